//! Starting what the teacher asked for as the student: web pages (R5) and
//! programs (R4) run with the student's identity and session environment,
//! never as root, without a shell, detached from the helper.

use std::path::PathBuf;

use pult_protocol::message::{ErrorCode, ErrorReply, WebUrl};

use crate::actions;
use crate::helper::file_worker::FileWorker;
use crate::helper::files::Folders;

/// Who the student is, and how their programs start.
#[derive(Clone, Debug)]
pub struct Student {
    /// The student's user and group ids, when the helper runs as another
    /// user (root): programs are started through `setpriv` as the student.
    pub identity: Option<Identity>,
    /// The environment of the student's session (HOME, DISPLAY, LANG, ...);
    /// `None` keeps the helper's own.
    pub environment: Option<Vec<(String, String)>>,
    /// The URL opener: program and leading arguments.
    pub url_opener: Vec<String>,
    /// Whether programs and pages are started or only written down.
    pub mode: ActionMode,
    /// Where files from the teacher go and hand-ins come from (R6).
    pub files: Folders,
}

/// A Unix user.
#[cfg(unix)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
}

/// The Windows session whose user the student is: what they are sent runs
/// with that user's own token.
#[cfg(windows)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The session id.
    pub session: u32,
}

/// What the agent does with "run program" and "open website".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActionMode {
    /// Starts them on this computer.
    CarryOut,
    /// Appends them to this file instead (a demo classroom on one machine).
    Record(PathBuf),
}

impl Student {
    /// Opens `url` in the student's browser (http and https only, R5).
    pub fn open_url(&self, url: &str) -> Result<(), ErrorReply> {
        let url = WebUrl::parse(url)
            .map_err(|e| ErrorReply::new(ErrorCode::UrlRefused, e.to_string()))?;
        match &self.mode {
            ActionMode::Record(file) => actions::record_url(file, url.as_str()),
            ActionMode::CarryOut => self.open_with_opener(url.as_str()),
        }
    }

    /// Starts `program` with `args` as the student (R4).
    pub fn run_program(&self, program: &str, args: &[String]) -> Result<(), ErrorReply> {
        match &self.mode {
            ActionMode::Record(file) => actions::record_program(file, program, args),
            ActionMode::CarryOut => {
                if program.trim().is_empty() {
                    return Err(ErrorReply::new(
                        ErrorCode::ProgramNotFound,
                        "no program was named",
                    ));
                }
                self.start(program, args)
            }
        }
    }

    /// Opens a file that arrived (R6) with the program the student's
    /// desktop opens it with.
    pub fn open_file(&self, path: &std::path::Path) -> Result<(), ErrorReply> {
        match &self.mode {
            ActionMode::Record(file) => {
                actions::record(file, &format!("open-file {}", path.display()))
            }
            ActionMode::CarryOut => self.open_with_opener(&path.display().to_string()),
        }
    }

    /// Hands `what` (a page, a file) to the desktop's opener as the student.
    fn open_with_opener(&self, what: &str) -> Result<(), ErrorReply> {
        let Some((program, leading)) = self.url_opener.split_first() else {
            return Err(ErrorReply::new(
                ErrorCode::Internal,
                "no opener (--url-opener) is configured",
            ));
        };
        let mut args = leading.to_vec();
        args.push(what.to_owned());
        self.start(program, &args)
    }

    /// Where the student's files are written and read: a process of the
    /// student's own when the helper is another user (on Windows, the
    /// helper's threads impersonating the student); names in `language`.
    pub fn file_worker(&self, language: crate::notice_text::Language) -> FileWorker {
        #[cfg(windows)]
        if let Some(Identity { session }) = self.identity {
            return FileWorker::as_session_user(session, self.files.clone(), language);
        }
        #[cfg(unix)]
        let _ = language; // the worker process reads its session's own
        #[cfg(unix)]
        if let Some(Identity { uid, gid }) = self.identity {
            let environment = self.environment.clone();
            let args = self.files.to_args();
            return FileWorker::Process {
                command: Box::new(move || {
                    let mut command = tokio::process::Command::new("setpriv");
                    command
                        .arg(format!("--reuid={uid}"))
                        .arg(format!("--regid={gid}"))
                        .arg("--init-groups")
                        .arg("--")
                        .arg(
                            std::env::current_exe().unwrap_or_else(|_| PathBuf::from("pult-agent")),
                        )
                        .arg("file-worker")
                        .args(&args)
                        .stderr(std::process::Stdio::inherit());
                    if let Some(environment) = &environment {
                        command
                            .env_clear()
                            .envs(environment.iter().map(|(k, v)| (k, v)));
                    }
                    command
                }),
                running: tokio::sync::Mutex::default(),
            };
        }
        FileWorker::here(self.files.clone())
    }

    fn start(&self, program: &str, args: &[String]) -> Result<(), ErrorReply> {
        #[cfg(windows)]
        if let Some(Identity { session }) = self.identity {
            use pult_agent_windows::process::{RunAs, start_in_session};
            let line = pult_agent_windows::cmdline::join(program, args);
            return start_in_session(session, RunAs::User, &line, true)
                .map(drop)
                .map_err(|error| match error.kind() {
                    std::io::ErrorKind::NotFound => not_installed(program),
                    _ => ErrorReply::new(
                        ErrorCode::ProgramFailed,
                        format!("'{program}' could not be started as the student: {error}"),
                    ),
                });
        }
        let (program, args) = match self.identity {
            // setpriv (util-linux) switches user, group and supplementary
            // groups and then executes the program itself: no shell.
            #[cfg(unix)]
            Some(Identity { uid, gid }) => {
                if which(program, self.environment.as_deref()).is_none() {
                    return Err(not_installed(program));
                }
                let mut line = vec![
                    format!("--reuid={uid}"),
                    format!("--regid={gid}"),
                    "--init-groups".to_owned(),
                    "--".to_owned(),
                    program.to_owned(),
                ];
                line.extend_from_slice(args);
                ("setpriv", line)
            }
            _ => (program, args.to_vec()),
        };
        crate::platform::spawn_detached(program, &args, self.environment.as_deref()).map_err(
            |error| match error.kind() {
                std::io::ErrorKind::NotFound => not_installed(program),
                _ => ErrorReply::new(
                    ErrorCode::ProgramFailed,
                    format!("'{program}' could not be started: {error}"),
                ),
            },
        )
    }
}

fn not_installed(program: &str) -> ErrorReply {
    ErrorReply::new(
        ErrorCode::ProgramNotFound,
        format!("'{program}' is not installed on this computer"),
    )
}

/// Finds `program` as the student's PATH would, so a missing program is
/// reported as such and not as a failure of `setpriv`.
#[cfg(unix)]
fn which(program: &str, environment: Option<&[(String, String)]>) -> Option<PathBuf> {
    if program.contains('/') {
        let path = PathBuf::from(program);
        return path.is_file().then_some(path);
    }
    let path = environment
        .and_then(|env| {
            env.iter()
                .find(|(k, _)| k == "PATH")
                .map(|(_, v)| v.clone())
        })
        .or_else(|| std::env::var("PATH").ok())
        .unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn student(mode: ActionMode) -> Student {
        Student {
            identity: None,
            environment: None,
            url_opener: vec!["/nonexistent/opener".into()],
            mode,
            files: Folders::default(),
        }
    }

    #[test]
    fn urls_other_than_http_and_https_are_refused_before_anything_runs() {
        let student = student(ActionMode::CarryOut);
        for url in ["file:///etc/passwd", "javascript:alert(1)"] {
            assert_eq!(
                student.open_url(url).unwrap_err().code,
                ErrorCode::UrlRefused
            );
        }
        // A good URL reaches the opener, which here does not exist.
        assert_eq!(
            student.open_url("https://example.org").unwrap_err().code,
            ErrorCode::ProgramNotFound
        );
    }

    #[test]
    fn a_missing_program_is_reported_as_such() {
        let student = student(ActionMode::CarryOut);
        let error = student
            .run_program("pult-no-such-program", &[])
            .unwrap_err();
        assert_eq!(error.code, ErrorCode::ProgramNotFound);
        assert_eq!(
            student.run_program(" ", &[]).unwrap_err().code,
            ErrorCode::ProgramNotFound
        );
        #[cfg(unix)]
        let as_someone = Student {
            identity: Some(Identity {
                uid: 1000,
                gid: 1000,
            }),
            ..student
        };
        #[cfg(unix)]
        assert_eq!(
            as_someone
                .run_program("pult-no-such-program", &[])
                .unwrap_err()
                .code,
            ErrorCode::ProgramNotFound
        );
    }

    #[test]
    fn recorded_actions_are_checked_and_written_down() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("actions.txt");
        let student = student(ActionMode::Record(file.clone()));
        student.open_url("https://example.org/a").unwrap();
        student.run_program("notepad.exe", &["x y".into()]).unwrap();
        assert_eq!(
            student.open_url("file:///etc/passwd").unwrap_err().code,
            ErrorCode::UrlRefused
        );
        let text = std::fs::read_to_string(file).unwrap();
        assert_eq!(
            text,
            "open-url https://example.org/a\nrun-program notepad.exe x y\n"
        );
    }
}
