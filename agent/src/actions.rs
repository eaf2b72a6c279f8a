//! Writing requested programs and pages down instead of starting them (the
//! demo classroom on one machine); starting them is [`crate::helper::Student`].

use std::path::Path;

use pult_protocol::message::{ErrorCode, ErrorReply, WebUrl};

/// Checks `url` as opening it would and writes it to `file`.
pub fn record_url(file: &Path, url: &str) -> Result<(), ErrorReply> {
    let url =
        WebUrl::parse(url).map_err(|e| ErrorReply::new(ErrorCode::UrlRefused, e.to_string()))?;
    record(file, &format!("open-url {url}"))
}

/// Checks the program as starting it would and writes it to `file`.
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

/// Appends `line` to `file`.
pub(crate) fn record(file: &Path, line: &str) -> Result<(), ErrorReply> {
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
