//! TLS pieces the backends share (DECISIONS D12): `spec.tls.insecureSkipVerify`, the
//! certificates of a PEM CA bundle, and a verifier that trusts any certificate but still checks
//! the handshake's signatures.

use kollect_api::v1alpha1::SinkCommonSpec;
use rustls_pki_types::{CertificateDer, pem::PemObject as _};

/// `spec.tls.insecureSkipVerify` (false when unset).
pub(crate) fn insecure_skip_verify(common: &SinkCommonSpec) -> bool {
    common
        .tls
        .as_ref()
        .and_then(|t| t.insecure_skip_verify)
        .unwrap_or(false)
}

/// The certificates of a PEM bundle; at least one. The error says what is wrong, for the
/// caller to prefix with where the bundle came from.
pub(crate) fn pem_roots(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let roots = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("not valid PEM: {error}"))?;
    if roots.is_empty() {
        return Err("it holds no CERTIFICATE block".to_owned());
    }
    Ok(roots)
}

#[cfg(any(feature = "object-store", feature = "postgres"))]
pub(crate) use verifier::SignaturesOnly;

#[cfg(any(feature = "object-store", feature = "postgres"))]
mod verifier {
    use std::sync::Arc;

    use rustls::{
        DigitallySignedStruct, SignatureScheme,
        client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
        crypto::CryptoProvider,
    };
    use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

    /// `insecureSkipVerify`: accepts any certificate, still checks handshake signatures.
    #[derive(Debug)]
    pub(crate) struct SignaturesOnly(pub(crate) Arc<CryptoProvider>);

    impl ServerCertVerifier for SignaturesOnly {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}
