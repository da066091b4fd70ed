//! The e-mail target: a minimal SMTP client (RFC 5321: EHLO, MAIL, RCPT, DATA, QUIT) over plain TCP, every
//! read and write under the attempt's timeout. Plain SMTP suits a local relay (loopback, a sidecar MTA) that
//! forwards with its own TLS and credentials; STARTTLS and AUTH are not spoken. Firing and resolved transitions
//! are sent (pending ones are not); the `Message-ID` carries the transition's id, so a re-sent mail is
//! recognisable.

use cfp_store::alert_outbox::ClaimedDelivery;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::AlertTargets;

/// Recipients of one alert, at most.
const MAX_RECIPIENTS: usize = 20;
/// Longest reply line read from the server.
const MAX_LINE: usize = 4096;

/// An SMTP relay (`smtp://host:port`), the sender and the recipients.
#[derive(Debug, Clone)]
pub struct EmailTarget {
    pub host: String,
    pub port: u16,
    pub from: String,
    pub to: Vec<String>,
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
        })
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
        let stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("connecting to the SMTP server: {e}"))?;
        let mut s = BufReader::new(stream);
        expect(&mut s, 220, "greeting").await?;
        command(&mut s, "EHLO cfp-runtime", 250).await?;
        command(&mut s, &format!("MAIL FROM:<{}>", self.from), 250).await?;
        for to in &self.to {
            command(&mut s, &format!("RCPT TO:<{to}>"), 250).await?;
        }
        command(&mut s, "DATA", 354).await?;
        s.get_mut()
            .write_all(message.as_bytes())
            .await
            .map_err(|e| format!("sending the mail: {e}"))?;
        command(&mut s, ".", 250).await?;
        let _ = command(&mut s, "QUIT", 221).await;
        Ok(())
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

async fn command(s: &mut BufReader<TcpStream>, line: &str, code: u16) -> Result<(), String> {
    s.get_mut()
        .write_all(format!("{line}\r\n").as_bytes())
        .await
        .map_err(|e| format!("SMTP write: {e}"))?;
    let verb = line.split([' ', ':']).next().unwrap_or(line);
    expect(s, code, verb).await
}

/// Reads one (possibly multi-line) reply and checks its code.
async fn expect(s: &mut BufReader<TcpStream>, code: u16, what: &str) -> Result<(), String> {
    loop {
        let mut line = String::new();
        let n = AsyncReadExt::take(&mut *s, MAX_LINE as u64)
            .read_line(&mut line)
            .await
            .map_err(|e| format!("SMTP read: {e}"))?;
        if n == 0 {
            return Err(format!("the SMTP server closed the connection (after {what})"));
        }
        let got: u16 = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
        if line.as_bytes().get(3) == Some(&b'-') {
            continue;
        }
        if got != code && !(code == 250 && got == 251) {
            return Err(format!("SMTP {what}: the server answered `{}`", line.trim_end()));
        }
        return Ok(());
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
}
