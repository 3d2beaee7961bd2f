//! TLS for Postgres connections on rustls with ring (DECISIONS D12): libpq's `sslmode`
//! semantics, with the CA from `spec.tls` or `sslrootcert`.

use std::sync::Arc;

use kollect_export::SinkError;
use rustls::{
    CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme,
    client::{
        WebPkiServerVerifier,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    },
    crypto::CryptoProvider,
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::config::{SslMode, Tls};

/// The connector for `tls`: rustls whatever the mode (tokio-postgres only uses it when the mode
/// asks for TLS).
pub(crate) fn connector(tls: &Tls) -> Result<MakeRustlsConnect, SinkError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls_error =
        |error: rustls::Error| SinkError::misconfigured(format!("postgres TLS setup: {error}"));
    let verify = if tls.insecure_skip_verify {
        Verify::Nothing
    } else {
        match tls.mode {
            SslMode::Disable | SslMode::Prefer | SslMode::Require => Verify::Nothing,
            SslMode::VerifyCa => Verify::Chain,
            SslMode::VerifyFull => Verify::ChainAndName,
        }
    };
    let inner = if verify == Verify::Nothing {
        None
    } else {
        let mut roots = RootCertStore::empty();
        for root in &tls.roots {
            roots.add(root.clone()).map_err(|error| {
                SinkError::misconfigured(format!(
                    "postgres TLS: a CA certificate is unusable: {error}"
                ))
            })?;
        }
        Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                .build()
                .map_err(|error| {
                    SinkError::misconfigured(format!("postgres TLS setup: {error}"))
                })?,
        )
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Verifier {
            verify,
            inner,
            provider,
        }))
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verify {
    /// `prefer`/`require` without a CA, or `insecureSkipVerify`: encrypted, not authenticated.
    Nothing,
    /// `verify-ca`: the chain must lead to the CA; the name is not checked.
    Chain,
    /// `verify-full`: the chain and the host name.
    ChainAndName,
}

#[derive(Debug)]
struct Verifier {
    verify: Verify,
    inner: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(inner) = &self.inner else {
            return Ok(ServerCertVerified::assertion());
        };
        match inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if self.verify == Verify::Chain => Ok(ServerCertVerified::assertion()),
            other => other,
        }
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
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
