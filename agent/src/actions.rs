//! What the agent does for a request, independent of how it arrived.

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use pult_protocol::message::{ErrorCode, ErrorReply, Screenshot, WebUrl};
use pult_screen::{CaptureSource, ScreenArea, encode_png};

use crate::platform;

/// The screen the agent captures from; shared by all connections.
pub type SharedScreen = Arc<Mutex<Box<dyn CaptureSource>>>;

/// Captures the whole screen and encodes it as PNG (R2).
pub async fn screenshot(screen: SharedScreen) -> Result<Screenshot, ErrorReply> {
    let work = move || {
        let frame = screen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .capture(ScreenArea::Desktop)
            .map_err(|e| ErrorReply::new(ErrorCode::CaptureFailed, e.to_string()))?;
        let png =
            encode_png(&frame).map_err(|e| ErrorReply::new(ErrorCode::Internal, e.to_string()))?;
        Ok(Screenshot {
            width: frame.width(),
            height: frame.height(),
            png,
        })
    };
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ErrorReply::new(ErrorCode::Internal, e.to_string()))?
}

/// Opens `url` with `opener` (program and leading arguments), http and https only (R5).
pub fn open_url(opener: &[String], url: &str) -> Result<WebUrl, ErrorReply> {
    let url =
        WebUrl::parse(url).map_err(|e| ErrorReply::new(ErrorCode::UrlRefused, e.to_string()))?;
    let Some((program, leading)) = opener.split_first() else {
        return Err(ErrorReply::new(
            ErrorCode::Internal,
            "no URL opener is configured",
        ));
    };
    let mut args = leading.to_vec();
    args.push(url.as_str().to_owned());
    start(program, &args)?;
    Ok(url)
}

/// Starts `program` with `args`, detached, never through a shell (R4).
pub fn run_program(program: &str, args: &[String]) -> Result<(), ErrorReply> {
    if program.trim().is_empty() {
        return Err(ErrorReply::new(
            ErrorCode::ProgramNotFound,
            "no program was named",
        ));
    }
    start(program, args)
}

/// Checks `url` like [`open_url`] and writes it to `file` instead of opening it.
pub fn record_url(file: &Path, url: &str) -> Result<(), ErrorReply> {
    let url =
        WebUrl::parse(url).map_err(|e| ErrorReply::new(ErrorCode::UrlRefused, e.to_string()))?;
    record(file, &format!("open-url {url}"))
}

/// Checks the program like [`run_program`] and writes it to `file` instead of starting it.
pub fn record_program(file: &Path, program: &str, args: &[String]) -> Result<(), ErrorReply> {
    if program.trim().is_empty() {
        return Err(ErrorReply::new(
            ErrorCode::ProgramNotFound,
            "no program was named",
        ));
    }
    record(
        file,
        &format!(
            "run-program {}",
            std::iter::once(program)
                .chain(args.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    )
}

fn record(file: &Path, line: &str) -> Result<(), ErrorReply> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .and_then(|mut f| writeln!(f, "{line}"))
        .map_err(|e| {
            ErrorReply::new(
                ErrorCode::Internal,
                format!("could not write {}: {e}", file.display()),
            )
        })
}

fn start(program: &str, args: &[String]) -> Result<(), ErrorReply> {
    platform::spawn_detached(program, args).map_err(|error| match error.kind() {
        io::ErrorKind::NotFound => ErrorReply::new(
            ErrorCode::ProgramNotFound,
            format!("'{program}' is not installed on this computer"),
        ),
        _ => ErrorReply::new(
            ErrorCode::ProgramFailed,
            format!("'{program}' could not be started: {error}"),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_other_than_http_and_https_are_refused_before_anything_runs() {
        let opener = vec!["/nonexistent/opener".to_owned()];
        for url in ["file:///etc/passwd", "javascript:alert(1)"] {
            assert_eq!(
                open_url(&opener, url).unwrap_err().code,
                ErrorCode::UrlRefused
            );
        }
        // A good URL reaches the opener, which here does not exist.
        assert_eq!(
            open_url(&opener, "https://example.org").unwrap_err().code,
            ErrorCode::ProgramNotFound
        );
    }

    #[test]
    fn a_missing_program_is_reported_as_such() {
        let error = run_program("pult-no-such-program", &[]).unwrap_err();
        assert_eq!(error.code, ErrorCode::ProgramNotFound);
        assert_eq!(
            run_program(" ", &[]).unwrap_err().code,
            ErrorCode::ProgramNotFound
        );
    }
}
