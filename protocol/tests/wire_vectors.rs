//! Consoles and agents of adjacent versions keep working together (R28):
//! every message a release puts on the wire is kept here as a test vector,
//! the message (as JSON) and its frame (as hex). Each build must read every
//! kept frame as the message it was, and write each message as that frame,
//! so a school updating in waves (a test room first) has old and new talk.
//!
//! `vectors/protocol-MAJOR.MINOR.json` per release. A new release copies
//! the newest file to its own version, adds its new messages, and fills
//! their frames with `PULT_WRITE_VECTORS=1 cargo test -p pult-protocol
//! --test wire_vectors`, which writes only the current version's file and
//! only frames still missing. The older files are never changed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Debug;
use std::path::PathBuf;

use pult_protocol::broadcast::BroadcastNews;
use pult_protocol::files::{FileList, FilesNews};
use pult_protocol::frame::{self, Frame, WireMessage};
use pult_protocol::input::{ControlNews, InputEvent};
use pult_protocol::message::{Hello, PROTOCOL_VERSION, Reply, Request, Screenshot};
use pult_protocol::watch::{ScreenUpdate, WatchControl};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

/// Checks one vector: the JSON is a `M`, a kept frame decodes to it and it
/// encodes to that frame. Returns the frame this build writes, as hex.
fn check<M>(name: &str, message: &Value, kept: Option<&str>) -> String
where
    M: WireMessage + DeserializeOwned + Serialize + PartialEq + Debug,
{
    let expected: M = serde_json::from_value(message.clone()).unwrap_or_else(|e| {
        panic!(
            "{name}: {message} is no {}: {e}",
            std::any::type_name::<M>()
        )
    });
    let written = hex(&frame::encode(&expected).unwrap());
    if let Some(kept) = kept {
        let bytes = unhex(kept);
        let header: [u8; frame::HEADER_LEN] = bytes[..frame::HEADER_LEN].try_into().unwrap();
        let (kind, len) = frame::parse_header(header).unwrap();
        assert_eq!(
            len,
            bytes.len() - frame::HEADER_LEN,
            "{name}: the kept frame's length"
        );
        let decoded: M = Frame {
            kind,
            payload: bytes[frame::HEADER_LEN..].to_vec(),
        }
        .decode()
        .unwrap_or_else(|e| panic!("{name}: this build cannot read the kept frame: {e}"));
        assert_eq!(decoded, expected, "{name}: read as another message");
        assert_eq!(written, kept, "{name}: this build writes another frame");
    }
    written
}

fn check_vector(name: &str, vector: &Value) -> String {
    let kind = vector["kind"].as_str().unwrap();
    let message = &vector["message"];
    let kept = vector.get("frame").and_then(Value::as_str);
    match kind {
        "Hello" => check::<Hello>(name, message, kept),
        "Request" => check::<Request>(name, message, kept),
        "Reply" => check::<Reply>(name, message, kept),
        "Screenshot" => check::<Screenshot>(name, message, kept),
        "WatchControl" => check::<WatchControl>(name, message, kept),
        "ScreenUpdate" => check::<ScreenUpdate>(name, message, kept),
        "InputEvent" => check::<InputEvent>(name, message, kept),
        "ControlNews" => check::<ControlNews>(name, message, kept),
        "BroadcastNews" => check::<BroadcastNews>(name, message, kept),
        "FileList" => check::<FileList>(name, message, kept),
        "FilesNews" => check::<FilesNews>(name, message, kept),
        other => panic!("{name}: no message kind {other}"),
    }
}

#[test]
fn r28_every_kept_frame_of_every_release_is_read_and_written_as_it_was() {
    let current = format!("protocol-{PROTOCOL_VERSION}.json");
    let mut files: Vec<PathBuf> = std::fs::read_dir(vectors_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(
        files.iter().any(|f| f.ends_with(&current)),
        "this build's protocol {PROTOCOL_VERSION} has no vectors in {current}; copy the newest file"
    );
    let write = std::env::var_os("PULT_WRITE_VECTORS").is_some();
    let mut checked = 0;
    for file in &files {
        let mut vectors: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let release = file.file_stem().unwrap().to_string_lossy().into_owned();
        let mut filled = false;
        for (index, vector) in vectors.iter_mut().enumerate() {
            let name = format!("{release} #{index}");
            let written = check_vector(&name, vector);
            if vector.get("frame").is_none() {
                assert!(
                    write && file.ends_with(&current),
                    "{name} has no frame; fill it with PULT_WRITE_VECTORS=1 (current release only)"
                );
                vector["frame"] = Value::String(written);
                filled = true;
            }
            checked += 1;
        }
        if filled {
            let mut text = serde_json::to_string_pretty(&vectors).unwrap();
            text.push('\n');
            std::fs::write(file, text).unwrap();
        }
    }
    // Every kind of message that crosses between console and agent.
    assert!(checked >= 40, "{checked} vectors");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}
