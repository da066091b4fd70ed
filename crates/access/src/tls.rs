//! TLS of the runtime's calls to the control plane: the Mozilla roots compiled in by default; with a private CA
//! (`--control-plane-ca`) only that CA's certificates are trusted; with a client certificate
//! (`--control-plane-client-cert`, `--control-plane-client-key`) the runtime proves itself (mTLS) to a control
//! plane, or a proxy in front of it, that requires one. Everything is read from PEM once, at start: a bad file
//! stops the runtime with an error naming it rather than failing every token check later.
//!
//! ```ignore
//! let tls = ControlTls::from_pem(Some(&std::fs::read("ca.pem")?), None)?;
//! let control = Control::start(ControlConfig { tls: Some(tls), .. }, shutdown);
//! ```

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A TLS client configuration for the control plane. Cheap to clone.
#[derive(Clone)]
pub struct ControlTls(pub(crate) Arc<rustls::ClientConfig>);

impl std::fmt::Debug for ControlTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ControlTls {{ client_auth: {} }}",
            self.0.client_auth_cert_resolver.has_certs()
        )
    }
}

impl ControlTls {
    /// `ca`: PEM certificates to trust instead of the public roots; `client`: a PEM certificate chain and its
    /// PEM private key (PKCS#8, PKCS#1 or SEC1). Errors name what was wrong, for the flag's error message.
    pub fn from_pem(ca: Option<&[u8]>, client: Option<(&[u8], &[u8])>) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let roots = match ca {
            Some(pem) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(pem) {
                    let cert = cert.map_err(|e| format!("not a PEM certificate ({e})"))?;
                    roots
                        .add(cert)
                        .map_err(|e| format!("a certificate cannot be a trust anchor ({e})"))?;
                }
                if roots.is_empty() {
                    return Err("no PEM certificate (-----BEGIN CERTIFICATE-----) found".into());
                }
                roots
            }
            None => rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
        };
        let builder = builder.with_root_certificates(roots);
        let config = match client {
            None => builder.with_no_client_auth(),
            Some((cert_pem, key_pem)) => {
                let chain = CertificateDer::pem_slice_iter(cert_pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("client certificate: not PEM ({e})"))?;
                if chain.is_empty() {
                    return Err("client certificate: no PEM certificate found".into());
                }
                let key = PrivateKeyDer::from_pem_slice(key_pem)
                    .map_err(|e| format!("client key: no PEM private key found ({e})"))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("client certificate and key do not go together ({e})"))?
            }
        };
        Ok(Self(Arc::new(config)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_files_that_hold_no_certificate_or_key() {
        let e = ControlTls::from_pem(Some(b"hello"), None).unwrap_err();
        assert!(e.contains("no PEM certificate"), "{e}");
        let garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let e = ControlTls::from_pem(Some(garbage), None).unwrap_err();
        assert!(e.contains("trust anchor"), "{e}");
        let e = ControlTls::from_pem(None, Some((b"", b""))).unwrap_err();
        assert!(e.contains("client certificate: no PEM certificate"), "{e}");
    }

    #[test]
    fn defaults_to_the_public_roots_without_a_client_certificate() {
        let tls = ControlTls::from_pem(None, None).unwrap();
        assert!(!tls.0.client_auth_cert_resolver.has_certs());
    }
}
