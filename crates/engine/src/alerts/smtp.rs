//! The e-mail target: a minimal SMTP client (RFC 5321: EHLO, MAIL, RCPT, DATA, QUIT) with STARTTLS (RFC 3207)
//! and AUTH PLAIN / LOGIN (RFC 4954), every read and write under the attempt's timeout. TLS is `opportunistic`
//! by default (used when the server offers it, the certificate verified), `required`, or `off`; credentials are
//! only ever sent over TLS. Firing and resolved transitions are sent (pending ones are not); the `Message-ID`
//! carries the transition's id, so a re-sent mail is recognisable. The protocol is in [`super::smtp_session`].
use std::sync::Arc;

use cfp_store::alert_outbox::ClaimedDelivery;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use super::AlertTargets;

/// Recipients of one alert, at most.
const MAX_RECIPIENTS: usize = 20;
/// Longest user name or password accepted.
const MAX_CREDENTIAL: usize = 1024;

/// When the connection is upgraded with STARTTLS (`--alert-smtp-tls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmtpTls {
    /// Plain SMTP only (a loopback relay); refused together with credentials.
    Off,
    /// STARTTLS when the server offers it (then the certificate must verify: no fallback to plain text after a
    /// failed handshake); plain SMTP when it does not. With credentials this behaves as `Required`.
    #[default]
    Opportunistic,
    /// STARTTLS or no mail.
    Required,
}

impl SmtpTls {
    pub fn parse(v: &str) -> Result<Self, String> {
        match v.trim().to_ascii_lowercase().as_str() {
            "off" => Ok(Self::Off),
            "" | "opportunistic" => Ok(Self::Opportunistic),
            "required" => Ok(Self::Required),
            other => Err(format!(
                "--alert-smtp-tls must be required, opportunistic or off, got `{other}`"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Opportunistic => "opportunistic",
            Self::Required => "required",
        }
    }
}

/// Which SASL mechanism authenticates (`--alert-smtp-auth-mechanism`): `Auto` takes PLAIN when the server offers
/// it, else LOGIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMechanism {
    #[default]
    Auto,
    Plain,
    Login,
}

impl AuthMechanism {
    pub fn parse(v: &str) -> Result<Self, String> {
        match v.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(Self::Auto),
            "plain" => Ok(Self::Plain),
            "login" => Ok(Self::Login),
            other => Err(format!(
                "--alert-smtp-auth-mechanism must be auto, plain or login, got `{other}`"
            )),
        }
    }
}

/// SMTP credentials. The password is never printed: `Debug` shows `***`, and no error quotes it.
#[derive(Clone)]
pub struct SmtpAuth {
    pub username: String,
    pub(crate) password: String,
    pub mechanism: AuthMechanism,
}

impl std::fmt::Debug for SmtpAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpAuth")
            .field("username", &self.username)
            .field("password", &"***")
            .field("mechanism", &self.mechanism)
            .finish()
    }
}

impl SmtpAuth {
    /// Checks the credentials (1 to 1024 bytes each, no NUL, CR or LF: PLAIN separates with NUL and SMTP lines
    /// end with CRLF). `source` names where they came from, for the error; the values never appear in it.
    pub fn new(username: &str, password: &str, mechanism: AuthMechanism, source: &str) -> Result<Self, String> {
        for (what, v) in [("user name", username), ("password", password)] {
            if v.is_empty() || v.len() > MAX_CREDENTIAL || v.contains(['\0', '\r', '\n']) {
                return Err(format!(
                    "{source}: the SMTP {what} must be 1 to {MAX_CREDENTIAL} bytes without NUL or line breaks"
                ));
            }
        }
        Ok(Self {
            username: username.to_string(),
            password: password.to_string(),
            mechanism,
        })
    }

    /// Credentials from a file's text: the user name on the first line, the password on the second.
    pub fn from_file_text(text: &str, mechanism: AuthMechanism, source: &str) -> Result<Self, String> {
        let mut lines = text.lines().map(|l| l.strip_suffix('\r').unwrap_or(l));
        let (Some(user), Some(password)) = (lines.next(), lines.next()) else {
            return Err(format!(
                "{source}: expected the SMTP user name on the first line and the password on the second"
            ));
        };
        if lines.any(|l| !l.is_empty()) {
            return Err(format!(
                "{source}: expected two lines (user name, password), found more"
            ));
        }
        Self::new(user, password, mechanism, source)
    }
}

/// An SMTP relay (`smtp://host:port`), the sender and the recipients, and how the connection is secured.
#[derive(Debug, Clone)]
pub struct EmailTarget {
    pub host: String,
    pub port: u16,
    pub from: String,
    pub to: Vec<String>,
    pub tls: SmtpTls,
    pub auth: Option<SmtpAuth>,
    /// Whether `tls_config` trusts a private CA (`--alert-smtp-ca-file`) instead of the public roots.
    pub private_ca: bool,
    pub(crate) tls_config: Arc<rustls::ClientConfig>,
}

/// A TLS client configuration trusting `ca` (PEM certificates), or the Mozilla roots compiled in.
fn tls_config(ca: Option<&[u8]>) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let roots = match ca {
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| format!("--alert-smtp-ca-file: not a PEM certificate ({e})"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("--alert-smtp-ca-file: a certificate cannot be a trust anchor ({e})"))?;
            }
            if roots.is_empty() {
                return Err("--alert-smtp-ca-file: no PEM certificate (-----BEGIN CERTIFICATE-----) found".into());
            }
            roots
        }
        None => rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        },
    };
    Ok(Arc::new(builder.with_root_certificates(roots).with_no_client_auth()))
}

fn check_address(option: &str, a: &str) -> Result<(), String> {
    let ok = a.len() <= 254
        && a.split_once('@').is_some_and(|(l, d)| !l.is_empty() && !d.is_empty())
        && !a
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"()[]\\".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!("{option}: `{a}` is not an e-mail address (name@domain)"))
    }
}

impl EmailTarget {
    /// Parses `--alert-smtp-url smtp://host[:port]` (port 25 by default), `--alert-email-from` and the
    /// comma-separated `--alert-email-to`.
    pub fn new(url: &str, from: &str, to: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("smtp://")
            .ok_or("--alert-smtp-url must be smtp://host:port (plain SMTP to a relay; smtps is not supported)")?;
        let authority = rest.trim_end_matches('/');
        if authority.contains('@') {
            return Err("--alert-smtp-url must not carry credentials (they would be logged)".into());
        }
        if authority.is_empty() || authority.contains(['/', '?', '#']) || authority.chars().any(char::is_whitespace) {
            return Err("--alert-smtp-url must be smtp://host:port".into());
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h.trim_start_matches('[').trim_end_matches(']').to_string(),
                p.parse::<u16>()
                    .map_err(|_| format!("--alert-smtp-url: `{p}` is not a port"))?,
            ),
            _ => (authority.to_string(), 25),
        };
        if host.is_empty() {
            return Err("--alert-smtp-url names no host".into());
        }
        check_address("--alert-email-from", from)?;
        let to: Vec<String> = to
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        if to.is_empty() || to.len() > MAX_RECIPIENTS {
            return Err(format!("--alert-email-to must name 1 to {MAX_RECIPIENTS} addresses"));
        }
        for a in &to {
            check_address("--alert-email-to", a)?;
        }
        Ok(Self {
            host,
            port,
            from: from.to_string(),
            to,
            tls: SmtpTls::default(),
            auth: None,
            private_ca: false,
            tls_config: tls_config(None)?,
        })
    }

    /// Sets the STARTTLS mode and the credentials; credentials with TLS `off` are refused (they would cross the
    /// network in the clear).
    pub fn secured(mut self, tls: SmtpTls, auth: Option<SmtpAuth>) -> Result<Self, String> {
        if tls == SmtpTls::Off && auth.is_some() {
            return Err(
                "SMTP credentials are only sent over TLS: --alert-smtp-tls off cannot go with them (use required)"
                    .into(),
            );
        }
        self.tls = tls;
        self.auth = auth;
        Ok(self)
    }

    /// Trusts only the CA certificates of this PEM (a private relay's CA) instead of the public roots.
    pub fn trusting(mut self, ca_pem: &[u8]) -> Result<Self, String> {
        self.tls_config = tls_config(Some(ca_pem))?;
        self.private_ca = true;
        Ok(self)
    }

    /// Whether STARTTLS is required: `Required`, or credentials to send.
    pub(crate) fn tls_required(&self) -> bool {
        self.tls == SmtpTls::Required || self.auth.is_some()
    }

    pub(crate) async fn send(&self, cfg: &AlertTargets, d: &ClaimedDelivery) -> Result<(), String> {
        let message = self.message(cfg, d);
        if message.len() > super::MAX_BODY {
            return Err(format!(
                "the mail is {} bytes, more than {}",
                message.len(),
                super::MAX_BODY
            ));
        }
        super::smtp_session::deliver(self, &message).await
    }

    /// The message (headers and a plain-text body, CRLF line ends, dot-stuffed).
    fn message(&self, cfg: &AlertTargets, d: &ClaimedDelivery) -> String {
        let a = &d.alert;
        // Names come from tenant code: no control character may reach a header.
        let clean = |s: &str| {
            s.chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect::<String>()
        };
        let subject = format!(
            "[CFP {}] {} {} SLO of {}/{} ({}, {})",
            clean(&a.severity),
            d.state.to_uppercase(),
            clean(&a.sli),
            clean(&a.project),
            clean(&a.step),
            clean(&a.rule),
            clean(&a.tenant)
        );
        let doc = super::alert_document(cfg, d);
        let mut body = format!(
            "The {} SLO of step {} (project {}, tenant {}) is {} under rule {} ({}).\n\
             Burn rate: {:.2} over the long window, {:.2} over the short one.\n",
            a.sli, a.step, a.project, a.tenant, d.state, a.rule, a.severity, d.burn_long, d.burn_short
        );
        if let Some(link) = doc["link"].as_str() {
            body.push_str(&format!("Workbench: {link}\n"));
        }
        body.push_str(&format!(
            "\n{}\n",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        ));
        let date = chrono::DateTime::from_timestamp_millis(d.at_ms)
            .unwrap_or_default()
            .to_rfc2822();
        let mut m = format!(
            "From: {}\r\nTo: {}\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: <cfp-slo-alert-{}@cfp>\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\
             X-CFP-Alert-Id: {}\r\n\r\n",
            self.from,
            self.to.join(", "),
            d.event_id,
            d.event_id
        );
        for line in body.lines() {
            if line.starts_with('.') {
                m.push('.');
            }
            m.push_str(&line.replace('\r', ""));
            m.push_str("\r\n");
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked() {
        let t = EmailTarget::new(
            "smtp://127.0.0.1:2525",
            "cfp@example.com",
            "a@example.com, b@example.com",
        )
        .unwrap();
        assert_eq!((t.host.as_str(), t.port, t.to.len()), ("127.0.0.1", 2525, 2));
        assert_eq!(EmailTarget::new("smtp://relay", "c@x.io", "a@x.io").unwrap().port, 25);
        assert!(EmailTarget::new("smtps://relay:465", "c@x.io", "a@x.io").is_err());
        assert!(EmailTarget::new("smtp://u:p@relay:25", "c@x.io", "a@x.io").is_err());
        assert!(EmailTarget::new("smtp://relay:25", "c@x.io", "a@x.io>\r\nRCPT TO:<b@x.io").is_err());
        assert!(EmailTarget::new("smtp://relay:25", "nobody", "a@x.io").is_err());
        assert!(EmailTarget::new("smtp://relay:25", "c@x.io", "").is_err());
    }

    #[test]
    fn credentials_are_checked_and_never_printed() {
        let a = SmtpAuth::from_file_text("alerts\r\ns3cret-pass\n", AuthMechanism::Auto, "f").unwrap();
        assert_eq!((a.username.as_str(), a.password.as_str()), ("alerts", "s3cret-pass"));
        assert!(!format!("{a:?}").contains("s3cret"), "{a:?}");
        let t = EmailTarget::new("smtp://relay", "c@x.io", "a@x.io")
            .unwrap()
            .secured(SmtpTls::Opportunistic, Some(a.clone()))
            .unwrap();
        assert!(!format!("{t:?}").contains("s3cret"));
        assert!(t.tls_required(), "credentials make STARTTLS required");
        let e = EmailTarget::new("smtp://relay", "c@x.io", "a@x.io")
            .unwrap()
            .secured(SmtpTls::Off, Some(a))
            .unwrap_err();
        assert!(e.contains("only sent over TLS"), "{e}");
        for bad in ["only-a-user\n", "u\np\nextra\n", "u\n\n", "\npw\n", "u\0x\npw\n"] {
            let e = SmtpAuth::from_file_text(bad, AuthMechanism::Auto, "the file").unwrap_err();
            assert!(e.starts_with("the file: "), "{e}");
            assert!(!e.contains("pw"), "{e}");
        }
        assert_eq!(SmtpTls::parse("REQUIRED").unwrap(), SmtpTls::Required);
        assert!(SmtpTls::parse("maybe").is_err());
        assert_eq!(AuthMechanism::parse("login").unwrap(), AuthMechanism::Login);
        assert!(AuthMechanism::parse("cram-md5").is_err());
        assert!(EmailTarget::new("smtp://relay", "c@x.io", "a@x.io")
            .unwrap()
            .trusting(b"junk")
            .is_err());
    }
}
