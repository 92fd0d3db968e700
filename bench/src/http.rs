//! Just enough HTTP/1.1 to join the test-app's chat and get its identity cookie.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `host:port` of an `http://host:port` URL.
pub(crate) fn authority(url: &str) -> &str {
    url.trim_start_matches("http://").split('/').next().unwrap_or("127.0.0.1:3000")
}

async fn request(url: &str, head: String, body: &str) -> Result<String, String> {
    let mut stream = TcpStream::connect(authority(url)).await.map_err(|e| e.to_string())?;
    stream
        .write_all(
            format!("{head}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes(),
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.map_err(|e| e.to_string())?;
    Ok(response)
}

/// The body of `GET path` when it answers 200 (asked as HTTP/1.0: never chunked).
pub(crate) async fn get(url: &str, path: &str) -> Result<String, String> {
    let host = authority(url);
    let response = request(url, format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n"), "").await?;
    let (head, body) = response.split_once("\r\n\r\n").ok_or("no HTTP response")?;
    match head.lines().next() {
        Some(status) if status.split_whitespace().nth(1) == Some("200") => Ok(body.to_owned()),
        status => Err(format!("answered {}", status.unwrap_or("nothing"))),
    }
}

fn cookies(response: &str) -> Vec<String> {
    response
        .lines()
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie")))
        .filter_map(|(_, v)| v.trim().split(';').next().map(str::to_owned))
        .collect()
}

/// GET / for the session and CSRF token, POST /join as "bench": returns the Cookie header.
pub(crate) async fn join(url: &str) -> Result<String, String> {
    let host = authority(url);
    let page = request(url, format!("GET / HTTP/1.1\r\nHost: {host}\r\n"), "").await?;
    let session = cookies(&page).join("; ");
    let token = page
        .split("name=\"authenticity_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("");
    let body = format!("name=bench&room=bench&authenticity_token={}", form_encode(token));
    let head = format!(
        "POST /join HTTP/1.1\r\nHost: {host}\r\nCookie: {session}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    );
    let joined = request(url, head, &body).await?;
    let identity = cookies(&joined);
    if !joined.starts_with("HTTP/1.1 302") || identity.is_empty() {
        return Err(format!("POST /join answered: {}", joined.lines().next().unwrap_or("")));
    }
    Ok(identity.join("; "))
}

fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
