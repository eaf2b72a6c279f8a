//! The session helper as a process of its own (`pult-agent helper`): the
//! service starts it in the student's session, as root with the session's
//! display and environment, and it connects back to the service's socket.
//!
//! It ends when the service closes the channel; the service starts it again
//! when it ends for any other reason.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use pult_protocol::frame::{read_message, write_message};
use pult_protocol::local::{FromHelper, HelperMessage, LOCAL_VERSION, ServiceMessage, ToHelper};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use super::HelperCore;

/// Serves the service on its Unix `socket` with `core` until the channel closes.
#[cfg(unix)]
pub async fn run(socket: &std::path::Path, core: Arc<HelperCore>) -> Result<()> {
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .with_context(|| format!("could not connect to the service at {}", socket.display()))?;
    serve(stream, core).await
}

/// Serves the service on its named `pipe` with `core` until the channel closes.
#[cfg(windows)]
pub async fn run(pipe: &str, core: Arc<HelperCore>) -> Result<()> {
    let stream = tokio::net::windows::named_pipe::ClientOptions::new()
        .open(pipe)
        .with_context(|| format!("could not connect to the service at {pipe}"))?;
    serve(stream, core).await
}

/// Serves the service on `stream` (the helper's end of the local channel).
pub async fn serve<S>(stream: S, core: Arc<HelperCore>) -> Result<()>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let hello = HelperMessage {
        id: 0,
        body: FromHelper::Hello {
            version: LOCAL_VERSION,
            display: core.display(),
        },
    };
    write_message(&mut writer, &hello).await?;
    match read_message::<ServiceMessage>(&mut reader).await? {
        Some(ServiceMessage {
            id: 0,
            body: ToHelper::Hello { version },
        }) if version == LOCAL_VERSION => {}
        Some(ServiceMessage {
            body: ToHelper::Hello { version },
            ..
        }) => bail!("the service speaks local version {version}, this helper {LOCAL_VERSION}"),
        Some(_) => bail!("the service did not answer with a hello"),
        None => bail!("the service closed the channel"),
    }
    let (answers, mut outgoing) = mpsc::channel::<HelperMessage>(64);
    let writing = tokio::spawn(async move {
        while let Some(answer) = outgoing.recv().await {
            if write_message(&mut writer, &answer).await.is_err() {
                break;
            }
        }
    });
    let result = loop {
        match read_message::<ServiceMessage>(&mut reader).await {
            Ok(Some(message)) => {
                // Started here, in the order received: input stays in order.
                let answer = core.start(message.body);
                let answers = answers.clone();
                tokio::spawn(async move {
                    let body = answer.await;
                    let _ = answers
                        .send(HelperMessage {
                            id: message.id,
                            body,
                        })
                        .await;
                });
            }
            Ok(None) => break Ok(()),
            Err(error) => {
                break Err(anyhow::Error::from(error).context("the service sent a bad frame"));
            }
        }
    };
    writing.abort();
    result
}
