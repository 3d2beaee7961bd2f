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
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::config::{SslMode, Tls};
use crate::tls::SignaturesOnly;

/// The connector for `tls`: rustls whatever the mode (tokio-postgres only uses it when the mode
/// asks for TLS).
pub(crate) fn connector(tls: &Tls) -> Result<MakeRustlsConnect, SinkError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let setup_error = |error: &dyn std::fmt::Display| {
        SinkError::misconfigured(format!("postgres TLS setup: {error}"))
    };
    let checked = || -> Result<Arc<WebPkiServerVerifier>, SinkError> {
        let mut roots = RootCertStore::empty();
        for root in &tls.roots {
            roots.add(root.clone()).map_err(|error| {
                SinkError::misconfigured(format!(
                    "postgres TLS: a CA certificate is unusable: {error}"
                ))
            })?;
        }
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
            .build()
            .map_err(|e| setup_error(&e))
    };
    let verifier: Arc<dyn ServerCertVerifier> = match tls.mode {
        _ if tls.insecure_skip_verify => Arc::new(SignaturesOnly(Arc::clone(&provider))),
        // `prefer`/`require` without a CA: encrypted, not authenticated (as libpq).
        SslMode::Disable | SslMode::Prefer | SslMode::Require => {
            Arc::new(SignaturesOnly(Arc::clone(&provider)))
        }
        SslMode::VerifyCa => Arc::new(ChainOnly(checked()?)),
        SslMode::VerifyFull => checked()?,
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| setup_error(&e))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// `verify-ca`: the chain must lead to the CA; the host name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
