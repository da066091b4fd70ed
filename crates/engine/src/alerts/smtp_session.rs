//! One SMTP session of the e-mail target ([`super::smtp`]): greeting, EHLO, STARTTLS when used, AUTH when
//! configured, then MAIL, RCPT, DATA and QUIT. Replies are read line by line (each line bounded), multi-line
//! replies whole. Nothing the client sends during AUTH is ever quoted in an error, and the server's answers to
//! AUTH are reduced to their code (a hostile relay could echo the credentials back into the stored error).

use base64::Engine as _;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::smtp::{AuthMechanism, EmailTarget, SmtpAuth, SmtpTls};

/// Longest reply line read from the server.
const MAX_LINE: usize = 4096;
/// Most lines of one reply (an EHLO answer lists a dozen extensions).
const MAX_REPLY_LINES: usize = 64;

/// Sends one message, upgrading with STARTTLS and authenticating as configured.
pub(crate) async fn deliver(t: &EmailTarget, message: &str) -> Result<(), String> {
    let stream = TcpStream::connect((t.host.as_str(), t.port))
        .await
        .map_err(|e| format!("connecting to the SMTP server: {e}"))?;
    let mut s = BufReader::new(stream);
    reply(&mut s, 220, "greeting", true).await?;
    let caps = ehlo(&mut s).await?;
    let offered = caps.iter().any(|c| c.eq_ignore_ascii_case("STARTTLS"));
    let upgrade = match t.tls {
        SmtpTls::Off => false,
        _ if offered => true,
        _ if t.tls_required() => {
            return Err(if t.auth.is_some() {
                "the SMTP server does not offer STARTTLS; the credentials are only sent over TLS, so nothing was sent"
                    .into()
            } else {
                "the SMTP server does not offer STARTTLS (--alert-smtp-tls required): nothing was sent".into()
            });
        }
        _ => false,
    };
    if !upgrade {
        return transact(t, &mut s, &caps, false, message).await;
    }
    command(&mut s, "STARTTLS", 220, "STARTTLS", true).await?;
    // Anything already buffered came before the handshake, in clear text: a man in the middle could have
    // injected it to be read as the server's answers inside TLS (the STARTTLS injection flaw). Refuse.
    if !s.buffer().is_empty() {
        return Err("the SMTP server sent data right after agreeing to STARTTLS (possible injection): refused".into());
    }
    let name =
        ServerName::try_from(t.host.clone()).map_err(|_| format!("`{}` is not a host name TLS can verify", t.host))?;
    let tls = tokio_rustls::TlsConnector::from(t.tls_config.clone())
        .connect(name, s.into_inner())
        .await
        .map_err(|e| format!("TLS with the SMTP server {}: {e}", t.host))?;
    let mut s = BufReader::new(tls);
    let caps = ehlo(&mut s).await?;
    transact(t, &mut s, &caps, true, message).await
}

/// AUTH when configured (only over TLS), then the mail itself.
async fn transact<S: AsyncRead + AsyncWrite + Unpin>(
    t: &EmailTarget,
    s: &mut BufReader<S>,
    caps: &[String],
    tls: bool,
    message: &str,
) -> Result<(), String> {
    if let Some(auth) = &t.auth {
        if !tls {
            // `deliver` never gets here without TLS when credentials are set; this is the last line of defence.
            return Err("refusing to send the SMTP credentials without TLS".into());
        }
        authenticate(s, auth, caps).await?;
    }
    command(s, &format!("MAIL FROM:<{}>", t.from), 250, "MAIL", true).await?;
    for to in &t.to {
        command(s, &format!("RCPT TO:<{to}>"), 250, "RCPT", true).await?;
    }
    command(s, "DATA", 354, "DATA", true).await?;
    s.get_mut()
        .write_all(message.as_bytes())
        .await
        .map_err(|e| format!("sending the mail: {e}"))?;
    command(s, ".", 250, "end of data", true).await?;
    let _ = command(s, "QUIT", 221, "QUIT", true).await;
    Ok(())
}

/// AUTH PLAIN (the credentials in the first line) or AUTH LOGIN (user name and password answering 334s).
async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut BufReader<S>,
    auth: &SmtpAuth,
    caps: &[String],
) -> Result<(), String> {
    let offered: Vec<String> = caps
        .iter()
        .filter_map(|c| {
            let up = c.to_ascii_uppercase();
            up.strip_prefix("AUTH ")
                .or_else(|| up.strip_prefix("AUTH="))
                .map(str::to_string)
        })
        .flat_map(|m| m.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect();
    let has = |m: &str| offered.iter().any(|o| o == m);
    let mechanism = match auth.mechanism {
        AuthMechanism::Auto if has("PLAIN") => AuthMechanism::Plain,
        AuthMechanism::Auto if has("LOGIN") => AuthMechanism::Login,
        AuthMechanism::Plain if has("PLAIN") => AuthMechanism::Plain,
        AuthMechanism::Login if has("LOGIN") => AuthMechanism::Login,
        wanted => {
            let want = match wanted {
                AuthMechanism::Auto => "PLAIN or LOGIN",
                AuthMechanism::Plain => "PLAIN",
                AuthMechanism::Login => "LOGIN",
            };
            return Err(format!(
                "the SMTP server does not offer AUTH {want} (it offers: {})",
                if offered.is_empty() {
                    "no AUTH".to_string()
                } else {
                    offered.join(" ")
                }
            ));
        }
    };
    let b64 = |v: &[u8]| base64::engine::general_purpose::STANDARD.encode(v);
    match mechanism {
        AuthMechanism::Plain => {
            let token = b64(format!("\0{}\0{}", auth.username, auth.password).as_bytes());
            command(s, &format!("AUTH PLAIN {token}"), 235, "AUTH PLAIN", false).await?;
        }
        _ => {
            command(s, "AUTH LOGIN", 334, "AUTH LOGIN", false).await?;
            command(s, &b64(auth.username.as_bytes()), 334, "AUTH LOGIN user name", false).await?;
            command(s, &b64(auth.password.as_bytes()), 235, "AUTH LOGIN password", false).await?;
        }
    }
    Ok(())
}

/// EHLO; the extensions the server announces (one per line after the greeting line, e.g. `STARTTLS`,
/// `AUTH PLAIN LOGIN`).
async fn ehlo<S: AsyncRead + AsyncWrite + Unpin>(s: &mut BufReader<S>) -> Result<Vec<String>, String> {
    let lines = command(s, "EHLO cfp-runtime", 250, "EHLO", true).await?;
    Ok(lines.into_iter().skip(1).collect())
}

/// Sends one line and reads the reply. `what` names the command in errors (never the line itself: it may carry
/// credentials); `quote`: whether the server's answer may appear in the error.
async fn command<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut BufReader<S>,
    line: &str,
    code: u16,
    what: &str,
    quote: bool,
) -> Result<Vec<String>, String> {
    s.get_mut()
        .write_all(format!("{line}\r\n").as_bytes())
        .await
        .map_err(|e| format!("SMTP write ({what}): {e}"))?;
    s.get_mut()
        .flush()
        .await
        .map_err(|e| format!("SMTP write ({what}): {e}"))?;
    reply(s, code, what, quote).await
}

/// Reads one (possibly multi-line) reply, checks its code and returns each line's text after the code.
async fn reply<S: AsyncRead + Unpin>(
    s: &mut BufReader<S>,
    code: u16,
    what: &str,
    quote: bool,
) -> Result<Vec<String>, String> {
    let mut texts = Vec::new();
    loop {
        let mut line = String::new();
        let n = AsyncReadExt::take(&mut *s, MAX_LINE as u64)
            .read_line(&mut line)
            .await
            .map_err(|e| format!("SMTP read ({what}): {e}"))?;
        if n == 0 {
            return Err(format!("the SMTP server closed the connection (after {what})"));
        }
        let got: u16 = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
        texts.push(line.get(4..).unwrap_or("").trim_end().to_string());
        if line.as_bytes().get(3) == Some(&b'-') {
            if texts.len() >= MAX_REPLY_LINES {
                return Err(format!("SMTP {what}: the reply has more than {MAX_REPLY_LINES} lines"));
            }
            continue;
        }
        if got != code && !(code == 250 && got == 251) {
            return Err(if quote {
                format!("SMTP {what}: the server answered `{}`", line.trim_end())
            } else {
                format!("SMTP {what}: the server answered {got} (refused)")
            });
        }
        return Ok(texts);
    }
}

#[cfg(test)]
mod tests {
    //! A scripted server on loopback for what a real one would not do: no STARTTLS offered, data injected after
    //! STARTTLS, AUTH refused with the credentials echoed back. (A real aiosmtpd with STARTTLS and AUTH is in
    //! `crates/gateway/tests/smtp_tls.rs`.)
    use super::*;
    use tokio::net::TcpListener;

    /// A server answering each line it reads with the next scripted reply (after the greeting); returns the
    /// port and the lines it received.
    async fn scripted(replies: Vec<&'static str>) -> (u16, tokio::task::JoinHandle<Vec<String>>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (sock, _) = l.accept().await.unwrap();
            let mut s = BufReader::new(sock);
            let mut got = Vec::new();
            let mut replies = replies.into_iter();
            s.get_mut().write_all(replies.next().unwrap().as_bytes()).await.unwrap();
            for r in replies {
                let mut line = String::new();
                if s.read_line(&mut line).await.unwrap_or(0) == 0 {
                    break;
                }
                got.push(line.trim_end().to_string());
                s.get_mut().write_all(r.as_bytes()).await.unwrap();
            }
            got
        });
        (port, task)
    }

    fn target(port: u16, tls: SmtpTls, auth: bool) -> EmailTarget {
        let auth = auth.then(|| SmtpAuth::new("alerts", "hunter2-secret", AuthMechanism::Auto, "test").unwrap());
        EmailTarget::new(&format!("smtp://127.0.0.1:{port}"), "cfp@x.io", "a@x.io")
            .unwrap()
            .secured(tls, auth)
            .unwrap()
    }

    #[tokio::test]
    async fn required_tls_or_credentials_without_starttls_send_nothing() {
        for (tls, auth) in [(SmtpTls::Required, false), (SmtpTls::Opportunistic, true)] {
            let (port, server) = scripted(vec!["220 hi\r\n", "250-relay\r\n250 AUTH PLAIN LOGIN\r\n"]).await;
            let e = deliver(&target(port, tls, auth), "x\r\n").await.unwrap_err();
            assert!(e.contains("does not offer STARTTLS"), "{e}");
            let got = server.await.unwrap();
            assert_eq!(got, ["EHLO cfp-runtime"], "nothing after EHLO: no AUTH, no MAIL");
        }
    }

    #[tokio::test]
    async fn opportunistic_without_starttls_sends_in_plain_text() {
        let (port, server) = scripted(vec![
            "220 hi\r\n",
            "250 relay\r\n",
            "250 ok\r\n",
            "250 ok\r\n",
            "354 go\r\n",
            "250 queued\r\n",
            "221 bye\r\n",
        ])
        .await;
        deliver(
            &target(port, SmtpTls::Opportunistic, false),
            "Subject: x\r\n\r\nbody\r\n.\r\n",
        )
        .await
        .unwrap();
        let got = server.await.unwrap();
        assert_eq!(got[1], "MAIL FROM:<cfp@x.io>");
    }

    #[tokio::test]
    async fn data_injected_after_starttls_is_refused() {
        // "220 go ahead" and a forged "250 AUTH PLAIN" arrive in one segment, before any handshake
        let (port, server) = scripted(vec![
            "220 hi\r\n",
            "250-relay\r\n250 STARTTLS\r\n",
            "220 go ahead\r\n250 AUTH PLAIN\r\n",
        ])
        .await;
        let e = deliver(&target(port, SmtpTls::Required, true), "x").await.unwrap_err();
        assert!(e.contains("possible injection"), "{e}");
        assert_eq!(server.await.unwrap(), ["EHLO cfp-runtime", "STARTTLS"]);
    }

    #[tokio::test]
    async fn an_auth_refusal_is_reduced_to_its_code() {
        let mut s = BufReader::new(std::io::Cursor::new(
            b"535 5.7.8 bad credentials aHVudGVyMg==\r\n".to_vec(),
        ));
        let e = reply(&mut s, 235, "AUTH PLAIN", false).await.unwrap_err();
        assert_eq!(e, "SMTP AUTH PLAIN: the server answered 535 (refused)");
    }
}
