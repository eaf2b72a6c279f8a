//! Files to the class and back (R6), with real files, real agents and
//! pultctl: every copy's hash checked, overwrite only when asked, hostile
//! names refused at both ends, a broken-off transfer and a full disk
//! leaving nothing behind, files written and collected as the student.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use pult_console::RoomCertificate;
use pult_e2e::hostile::{HOSTILE_HAND_IN, HostileAgent};
use pult_e2e::student::{STUDENT, Service, StudentSession, school};
use pult_e2e::{Agent, School, binary, free_address, pultctl, wait_until};
use pult_protocol::files::{FileList, FileOffer, FileVerdict, FilesNews};
use pult_protocol::frame::{read_message, write_message};
use pult_protocol::message::{ErrorCode, Feature, Hello, Reply, Request};

/// Bytes that look like nothing in particular, the same for the same seed.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// A room of `count` devices R101-PC01… on free loopback addresses.
fn room(count: usize) -> School {
    let school = School::with_teacher("Gymnasium Am Park");
    let mut csv = "name,room,ip\n".to_owned();
    for n in 1..=count {
        csv.push_str(&format!("R101-PC{n:02},101,{}\n", free_address()));
    }
    school.import(&csv);
    school
}

/// A single-process agent whose student's receive folder is `folder`.
fn agent(school: &School, device: &str, folder: &Path) -> Agent {
    Agent::start(
        &school.agent_bundle(device),
        &[
            "--screen",
            "synthetic",
            "--receive-folder",
            folder.to_str().unwrap(),
            "--hand-in-folder",
            folder.with_file_name("Abgabe").to_str().unwrap(),
        ],
        &[],
    )
}

/// Every file below `dir`, as paths relative to it, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(folder) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                let relative = entry.path().strip_prefix(dir).unwrap().to_owned();
                found.push(relative.display().to_string());
            }
        }
    }
    found.sort();
    found
}

fn hash(path: &Path) -> blake3::Hash {
    blake3::hash(&std::fs::read(path).unwrap())
}

#[test]
fn r6_a_file_and_a_folder_reach_ten_agents_whole_and_overwrite_is_the_teachers_choice() {
    let school = room(10);
    let cert = school.room_cert("101", "mueller", "1h");
    let teacher = school.path("teacher");
    let big = teacher.join("Film.bin");
    std::fs::create_dir_all(teacher.join("Mappe/Teil 2")).unwrap();
    std::fs::write(&big, noise(50_000_000, 7)).unwrap();
    for n in 0..100 {
        let sub = if n % 2 == 0 { "Mappe" } else { "Mappe/Teil 2" };
        std::fs::write(
            teacher.join(format!("{sub}/Blatt {n}.txt")),
            noise(100 + n * 37, n as u64),
        )
        .unwrap();
    }
    let folders: Vec<PathBuf> = (1..=10)
        .map(|n| school.path(&format!("student-{n}/Von der Lehrkraft")))
        .collect();
    let agents: Vec<Agent> = folders
        .iter()
        .enumerate()
        .map(|(n, folder)| agent(&school, &format!("R101-PC{:02}", n + 1), folder))
        .collect();

    let sent = pultctl(
        &cert,
        &[
            "send",
            big.to_str().unwrap(),
            teacher.join("Mappe").to_str().unwrap(),
        ],
    );
    assert!(sent.success, "{}\n{}", sent.stdout, sent.stderr);
    let mut expected = tree(&teacher);
    assert_eq!(expected.len(), 101);
    for folder in &folders {
        assert_eq!(tree(folder), expected, "{}", folder.display());
        for path in &expected {
            assert_eq!(
                hash(&folder.join(path)),
                hash(&teacher.join(path)),
                "{path}"
            );
        }
    }
    for n in 1..=10 {
        assert!(
            sent.stdout.contains(&format!("R101-PC{n:02}: 101 done")),
            "{}",
            sent.stdout
        );
    }
    // The audit log names each file and its size, never its contents.
    let entry = agents[0].wait_for_audit(|e| e["action"] == "files-sent");
    let detail = entry["detail"].as_str().unwrap();
    assert!(detail.starts_with("101 of 101 files stored"), "{detail}");
    assert!(detail.contains("Film.bin (50000000 B): done"), "{detail}");
    assert!(
        detail.contains("Mappe/Teil 2/Blatt 1.txt (137 B): done"),
        "{detail}"
    );
    assert_eq!(entry["user"], "mueller");
    // So does the console's own, one line per device (R16).
    let console_log = pult_e2e::audit_entries(&pult_e2e::console_audit(&cert));
    assert_eq!(console_log.len(), 10, "{console_log:#?}");
    let pc01 = console_log
        .iter()
        .find(|e| e["device"] == "R101-PC01")
        .unwrap();
    assert_eq!(
        (
            &pc01["action"],
            &pc01["user"],
            &pc01["room"],
            &pc01["result"]
        ),
        (
            &serde_json::json!("files-send"),
            &serde_json::json!("mueller"),
            &serde_json::json!("101"),
            &serde_json::json!("ok")
        )
    );
    assert_eq!(pc01["done"], 101);
    let film = pc01["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "Film.bin")
        .unwrap();
    assert_eq!(
        (&film["size"], &film["outcome"]),
        (&serde_json::json!(50_000_000), &serde_json::json!("done"))
    );
    let verified = Command::new(binary("pultctl"))
        .arg("--audit-dir")
        .arg(pult_e2e::console_audit(&cert))
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(
        verified.status.success()
            && String::from_utf8_lossy(&verified.stdout).contains("10 lines in 1 files verified"),
        "{verified:?}"
    );

    // A student changed the film; without --overwrite it stays theirs.
    std::fs::write(folders[3].join("Film.bin"), b"meine Fassung").unwrap();
    let again = pultctl(&cert, &["send", big.to_str().unwrap(), "--to", "R101-PC04"]);
    assert!(!again.success);
    assert!(
        again.stderr.contains("R101-PC04: 0 done; exists: Film.bin"),
        "{}",
        again.stderr
    );
    assert_eq!(
        std::fs::read(folders[3].join("Film.bin")).unwrap(),
        b"meine Fassung"
    );
    // With it, the teacher's film replaces it.
    let replaced = pultctl(
        &cert,
        &[
            "send",
            big.to_str().unwrap(),
            "--to",
            "R101-PC04",
            "--overwrite",
        ],
    );
    assert!(replaced.success, "{}", replaced.stderr);
    assert_eq!(hash(&folders[3].join("Film.bin")), hash(&big));
    expected.sort();
    assert_eq!(tree(&folders[3]), expected, "no temporary file is left");
}

/// Offers `files` on a batch stream of its own, as a console that skips
/// every check would; returns the agent's verdicts and the batch.
async fn offer_raw(
    cert: &Path,
    device: &str,
    files: Vec<FileOffer>,
) -> (u64, Vec<FileVerdict>, quinn::Connection) {
    let room = RoomCertificate::load(cert).unwrap();
    let device = room.devices(&[device.to_owned()]).unwrap().remove(0);
    let (endpoint, connection) = pult_e2e::raw_connection(&room, &device).await;
    // The endpoint lives as long as the connection the test goes on using.
    std::mem::forget(endpoint);
    let (mut send, mut recv) = open(&connection).await;
    write_message(
        &mut send,
        &Request::SendFiles {
            overwrite: true,
            open: false,
        },
    )
    .await
    .unwrap();
    write_message(&mut send, &FileList { files }).await.unwrap();
    match read_message::<FilesNews>(&mut recv).await.unwrap().unwrap() {
        FilesNews::Ready {
            batch, verdicts, ..
        } => {
            // The batch stream stays open while the test sends on others.
            std::mem::forget((send, recv));
            (batch, verdicts, connection)
        }
        other => panic!("{other:?}"),
    }
}

async fn open(connection: &quinn::Connection) -> (quinn::SendStream, quinn::RecvStream) {
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    write_message(&mut send, &Hello::current("raw", &Feature::ALL))
        .await
        .unwrap();
    read_message::<Hello>(&mut recv).await.unwrap().unwrap();
    (send, recv)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_hostile_names_are_refused_by_the_console_and_by_the_agent() {
    let school = room(1);
    let cert = school.room_cert("101", "mueller", "1h");
    let outside = school.path("students");
    let folder = outside.join("home/Von der Lehrkraft");
    let _agent = agent(&school, "R101-PC01", &folder);

    // The console refuses before it sends anything.
    let teacher = school.path("teacher");
    std::fs::create_dir_all(&teacher).unwrap();
    for name in [
        "nul.txt",
        "bericht.",
        "a:b.txt",
        "Zeile\nneu.txt",
        "wer?.txt",
        "aux",
    ] {
        let path = teacher.join(name);
        std::fs::write(&path, b"x").unwrap();
        let sent = pultctl(&cert, &["send", path.to_str().unwrap()]);
        assert!(!sent.success, "{name:?}");
        assert!(
            sent.stderr.contains("is refused"),
            "{name:?}: {}",
            sent.stderr
        );
    }
    std::fs::create_dir_all(teacher.join("Mappe")).unwrap();
    std::fs::write(teacher.join("Mappe/a.txt"), b"x").unwrap();
    std::fs::write(teacher.join("Mappe/A.TXT"), b"y").unwrap();
    let sent = pultctl(&cert, &["send", teacher.join("Mappe").to_str().unwrap()]);
    assert!(sent.stderr.contains("same name as"), "{}", sent.stderr);

    // A console that sends them anyway: the agent refuses each, with why.
    let hostile = [
        "../escape.txt",
        "a/../../escape.txt",
        "/tmp/pult-absolute.txt",
        "C:\\Windows\\x.dll",
        "a.txt:stream",
        "CON",
        "nul.txt",
        "trailing.",
        "trailing ",
        "bell\u{7}.txt",
        &"x".repeat(256),
        "ok.txt",
        "OK.txt",
    ];
    let mut files: Vec<FileOffer> = hostile
        .iter()
        .map(|path| FileOffer {
            path: (*path).to_owned(),
            size: 5,
            hash: *blake3::hash(b"evil!").as_bytes(),
        })
        .collect();
    // A size no disk holds, and one that would overflow any sum.
    for _ in 0..2 {
        files.push(FileOffer {
            path: "riesig.bin".into(),
            size: u64::MAX,
            hash: [0; 32],
        });
    }
    files[hostile.len() + 1].path = "riesig2.bin".into();
    let (batch, verdicts, connection) = offer_raw(&cert, "R101-PC01", files).await;
    for verdict in &verdicts[hostile.len()..] {
        assert!(
            matches!(verdict, FileVerdict::Refused(e) if e.code == ErrorCode::TooLarge),
            "{verdict:?}"
        );
    }
    for (path, verdict) in hostile.iter().zip(&verdicts) {
        if *path == "ok.txt" {
            assert_eq!(*verdict, FileVerdict::Ready);
            continue;
        }
        let FileVerdict::Refused(error) = verdict else {
            panic!("{path:?} was not refused: {verdict:?}");
        };
        assert_eq!(error.code, ErrorCode::NameRefused, "{path:?}");
        assert!(error.message.contains("is refused"), "{}", error.message);
    }
    // Sending a refused file's bytes anyway is refused too.
    for index in 0..hostile.len() as u32 {
        let (mut send, mut recv) = open(&connection).await;
        write_message(&mut send, &Request::FileData { batch, index })
            .await
            .unwrap();
        let _ = send.write_all(b"evil!").await;
        let _ = send.finish();
        let reply = read_message::<Reply>(&mut recv).await.unwrap().unwrap();
        if hostile[index as usize] == "ok.txt" {
            assert_eq!(reply, Reply::Done);
        } else {
            assert!(matches!(reply, Reply::Error(_)), "{reply:?}");
        }
    }
    // Another batch's number is no way in either.
    let (mut send, mut recv) = open(&connection).await;
    write_message(
        &mut send,
        &Request::FileData {
            batch: batch + 1000,
            index: 0,
        },
    )
    .await
    .unwrap();
    let _ = send.finish();
    let reply = read_message::<Reply>(&mut recv).await.unwrap().unwrap();
    assert!(matches!(reply, Reply::Error(e) if e.code == ErrorCode::UnexpectedMessage));
    connection.close(0u32.into(), b"done");
    assert_eq!(tree(&outside), ["home/Von der Lehrkraft/ok.txt"]);
    assert!(!Path::new("/tmp/pult-absolute.txt").exists());
}

#[test]
fn r6_an_interrupted_transfer_leaves_nothing_under_the_real_name_and_a_retry_succeeds() {
    let school = room(1);
    let cert = school.room_cert("101", "mueller", "1h");
    let folder = school.path("student/Von der Lehrkraft");
    let _agent = agent(&school, "R101-PC01", &folder);
    let big = school.path("Film.bin");
    std::fs::write(&big, noise(300_000_000, 3)).unwrap();
    let mut sending = Command::new(binary("pultctl"))
        .arg("--cert")
        .arg(&cert)
        .arg("--audit-dir")
        .arg(pult_e2e::console_audit(&cert))
        .args(["send", big.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed once part of the film is written under its temporary name.
    wait_until(Duration::from_secs(60), "a temporary file", || {
        tree(&folder).iter().any(|name| {
            name.starts_with(".pult-")
                && std::fs::metadata(folder.join(name)).is_ok_and(|m| m.len() > 0)
        })
    });
    sending.kill().unwrap();
    sending.wait().unwrap();
    assert!(!folder.join("Film.bin").exists());
    // The agent sees the console gone and removes what it wrote: a console
    // killed says nothing, so that is when the connection times out
    // (IDLE_TIMEOUT, 30 s; a transfer outlives shorter silences, as in a
    // congested classroom).
    wait_until(
        pult_protocol::endpoint::IDLE_TIMEOUT + Duration::from_secs(15),
        "the temporary file removed",
        || tree(&folder).is_empty(),
    );
    let retry = pultctl(&cert, &["send", big.to_str().unwrap()]);
    assert!(retry.success, "{}", retry.stderr);
    assert_eq!(tree(&folder), ["Film.bin"]);
    assert_eq!(hash(&folder.join("Film.bin")), hash(&big));
}

#[test]
fn r6_a_full_disk_is_reported_and_leaves_nothing() {
    let school = room(1);
    let cert = school.room_cert("101", "mueller", "1h");
    let folder = school.path("small");
    std::fs::create_dir_all(&folder).unwrap();
    let mounted = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "size=1m",
            "pult-full",
            folder.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(
        mounted.success(),
        "mounting a tmpfs needs root (CI runs as root)"
    );
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(folder.clone());
    let _agent = agent(&school, "R101-PC01", &folder);
    let big = school.path("Film.bin");
    std::fs::write(&big, noise(3_000_000, 5)).unwrap();
    let small = school.path("Blatt.txt");
    std::fs::write(&small, b"passt noch").unwrap();
    let sent = pultctl(&cert, &["send", big.to_str().unwrap()]);
    assert!(!sent.success);
    assert!(
        sent.stderr.contains("failed: Film.bin: the disk is full"),
        "{}",
        sent.stderr
    );
    assert!(tree(&folder).is_empty(), "{:?}", tree(&folder));
    // The disk is as empty as before: a small file still fits.
    let sent = pultctl(&cert, &["send", small.to_str().unwrap()]);
    assert!(sent.success, "{}", sent.stderr);
    assert_eq!(tree(&folder), ["Blatt.txt"]);
}

#[test]
fn r6_files_are_written_and_collected_as_the_student_who_is_told() {
    let session = StudentSession::start();
    let school = school();
    let service = Service::start(&school, &session);
    let cert = school.room_cert("101", "mueller", "1h");
    let home = PathBuf::from(format!("/home/{STUDENT}"));
    let desktop = home.join("Desktop");
    let _ = std::fs::remove_dir_all(&desktop);
    let uid = std::fs::metadata(&home).unwrap().uid();
    let teacher = school.path("teacher");
    std::fs::create_dir_all(&teacher).unwrap();
    std::fs::write(teacher.join("Arbeitsblatt.txt"), b"Aufgabe 1").unwrap();

    let sent = pultctl(
        &cert,
        &["send", teacher.join("Arbeitsblatt.txt").to_str().unwrap()],
    );
    assert!(sent.success, "{}\n{}", sent.stdout, sent.stderr);
    // A German desktop: "Von der Lehrkraft" on the desktop, the student's own.
    let arrived = desktop.join("Von der Lehrkraft/Arbeitsblatt.txt");
    assert_eq!(std::fs::read(&arrived).unwrap(), b"Aufgabe 1");
    assert_eq!(
        std::fs::metadata(&arrived).unwrap().uid(),
        uid,
        "written as the student"
    );
    assert_eq!(
        std::fs::metadata(arrived.parent().unwrap()).unwrap().uid(),
        uid
    );
    // The student reads which files came from whom.
    wait_until(
        Duration::from_secs(20),
        "the message about the files",
        || !session.xvfb.windows_named("1 Datei erhalten").is_empty(),
    );

    // A hand-in folder the student cannot write to is no way into root's files.
    let hand_in = desktop.join("Abgabe");
    std::fs::create_dir_all(hand_in.join("Projekt")).unwrap();
    std::fs::write(hand_in.join("Aufsatz.odt"), b"Es war einmal").unwrap();
    std::fs::write(hand_in.join("Projekt/Bild.png"), b"png").unwrap();
    std::fs::write(hand_in.join("geheim.txt"), b"root's").unwrap();
    for path in [
        &hand_in,
        &hand_in.join("Projekt"),
        &hand_in.join("Aufsatz.odt"),
        &hand_in.join("Projekt/Bild.png"),
    ] {
        std::os::unix::fs::chown(path, Some(uid), Some(uid)).unwrap();
    }
    std::fs::set_permissions(
        hand_in.join("geheim.txt"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let out = school.path("eingesammelt");
    let collected = pultctl(&cert, &["collect", "--out", out.to_str().unwrap()]);
    assert!(
        !collected.success,
        "root's file cannot be read as the student"
    );
    assert!(
        collected.stderr.contains("geheim.txt"),
        "{}",
        collected.stderr
    );
    let saved = out.join(format!("101/R101-PC01-{STUDENT}"));
    assert_eq!(tree(&saved), ["Aufsatz.odt", "Projekt/Bild.png"]);
    assert_eq!(
        std::fs::read(saved.join("Aufsatz.odt")).unwrap(),
        b"Es war einmal"
    );
    let only = pultctl(
        &cert,
        &[
            "collect",
            "--out",
            out.to_str().unwrap(),
            "--pattern",
            "*.PNG",
        ],
    );
    assert!(only.success, "{}", only.stderr);
    assert!(only.stdout.contains("R101-PC01: 1 done"), "{}", only.stdout);

    let audit = pult_e2e::audit_entries(&service.audit);
    let collect = audit
        .iter()
        .find(|e| e["action"] == "files-collected")
        .unwrap();
    let detail = collect["detail"].as_str().unwrap();
    assert!(detail.contains("Aufsatz.odt (13 B): done"), "{detail}");
    assert!(!detail.contains("Es war einmal"), "no contents in the log");
    let _ = std::fs::remove_dir_all(&desktop);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_collecting_from_a_hostile_agent_writes_nothing_outside_out() {
    let school = room(3);
    let cert = school.room_cert("101", "mueller", "1h");
    let hostile = HostileAgent::start(&school.agent_bundle("R101-PC03"));
    let mut honest = Vec::new();
    for n in 1..=2 {
        let folder = school.path(&format!("student-{n}/Von der Lehrkraft"));
        let hand_in = school.path(&format!("student-{n}/Abgabe"));
        std::fs::create_dir_all(&hand_in).unwrap();
        std::fs::write(hand_in.join("Aufsatz.txt"), format!("Aufsatz {n}")).unwrap();
        honest.push(agent(&school, &format!("R101-PC{n:02}"), &folder));
    }
    let base = school.path("collect");
    let out = base.join("out");
    let cert_path = cert.clone();
    let out_arg = out.clone();
    let collected = tokio::task::spawn_blocking(move || {
        pultctl(&cert_path, &["collect", "--out", out_arg.to_str().unwrap()])
    })
    .await
    .unwrap();
    assert!(!collected.success);
    assert_eq!(
        tree(&base),
        [
            "out/101/R101-PC01/Aufsatz.txt",
            "out/101/R101-PC02/Aufsatz.txt",
            "out/101/R101-PC03-mallory/ehrlich.txt"
        ]
    );
    assert_eq!(
        std::fs::read(out.join("101/R101-PC03-mallory/ehrlich.txt")).unwrap(),
        HOSTILE_HAND_IN[4].1
    );
    for (path, _) in HOSTILE_HAND_IN {
        if path == "ehrlich.txt" {
            continue;
        }
        assert!(
            collected.stderr.contains(&format!("refused: {path}")),
            "{path}: {}",
            collected.stderr
        );
    }
    assert!(!school.path("x").exists() && !Path::new("/tmp/pult-hostile-absolute").exists());
    // The console's audit log says what it refused of the hostile agent's
    // listing, by name, and what it saved (R16).
    let log = pult_e2e::audit_entries(&pult_e2e::console_audit(&cert));
    let mallory = log.iter().find(|e| e["device"] == "R101-PC03").unwrap();
    assert_eq!(
        (&mallory["action"], &mallory["result"], &mallory["done"]),
        (
            &serde_json::json!("files-collect"),
            &serde_json::json!("incomplete"),
            &serde_json::json!(1)
        )
    );
    let outcomes: Vec<(String, String)> = mallory["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (path, _) in HOSTILE_HAND_IN {
        let outcome = if path == "ehrlich.txt" {
            "done"
        } else {
            "refused"
        };
        assert!(
            outcomes.contains(&(path.to_owned(), outcome.to_owned())),
            "{path}: {outcomes:?}"
        );
    }
    drop(hostile);
}

#[test]
fn r6_a_certificate_of_another_room_sends_nothing() {
    let school = room(1);
    school.import(&format!("name,room,ip\nR102-PC01,102,{}\n", free_address()));
    let folder = school.path("student/Von der Lehrkraft");
    let _agent = agent(&school, "R101-PC01", &folder);
    let other = school.room_cert("102", "mueller", "1h");
    let file = school.path("Blatt.txt");
    std::fs::write(&file, b"x").unwrap();
    let sent = pultctl(
        &other,
        &["send", file.to_str().unwrap(), "--to", "R101-PC01"],
    );
    assert!(!sent.success);
    assert!(sent.stderr.contains("not in room 102"), "{}", sent.stderr);
    assert!(tree(&folder).is_empty());
}

/// Sends `request` on a fresh stream of `connection` and reads the reply.
async fn ask(connection: &quinn::Connection, request: &Request) -> Reply {
    let (mut send, mut recv) = open(connection).await;
    write_message(&mut send, request).await.unwrap();
    let _ = send.finish();
    read_message::<Reply>(&mut recv).await.unwrap().unwrap()
}

fn not_granted(reply: &Reply, naming: &str) {
    match reply {
        Reply::Error(error) => {
            assert_eq!(error.code, ErrorCode::NotGranted, "{error:?}");
            assert!(error.message.contains(naming), "{}", error.message);
        }
        other => panic!("not refused: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r6_the_agent_refuses_files_and_opening_them_to_a_certificate_that_does_not_grant_it() {
    let school = room(1);
    let folder = school.path("student/Von der Lehrkraft");
    std::fs::create_dir_all(folder.with_file_name("Abgabe")).unwrap();
    std::fs::write(
        folder.with_file_name("Abgabe/Aufsatz.odt"),
        b"Es war einmal",
    )
    .unwrap();
    let agent = agent(&school, "R101-PC01", &folder);
    let file = school.path("Blatt.txt");
    std::fs::write(&file, b"Aufgabe 1").unwrap();

    // Files, but not starting programs: nothing is opened for the student,
    // and nothing is sent when the teacher asked for it to be opened.
    let files_only =
        school.room_cert_granting("cert-files", "101", "mueller", "screenshot,watch,files");
    let sent = pultctl(&files_only, &["send", file.to_str().unwrap(), "--open"]);
    assert!(!sent.success);
    let said = format!("{}{}", sent.stdout, sent.stderr);
    assert!(
        said.contains("grants 'files' but not 'run-program'"),
        "{said}"
    );
    let room = RoomCertificate::load(&files_only).unwrap();
    let device = room.devices(&["R101-PC01".to_owned()]).unwrap().remove(0);
    let (_endpoint, connection) = pult_e2e::raw_connection(&room, &device).await;
    let open = Request::SendFiles {
        overwrite: false,
        open: true,
    };
    not_granted(&ask(&connection, &open).await, "run-program");
    connection.close(0u32.into(), b"done");
    assert!(tree(&folder).is_empty(), "{:?}", tree(&folder));
    // Without opening, the same certificate sends.
    let sent = pultctl(&files_only, &["send", file.to_str().unwrap()]);
    assert!(sent.success, "{}", sent.stderr);
    assert_eq!(tree(&folder), ["Blatt.txt"]);

    // No files at all: every file request is refused by the agent itself,
    // whatever a console sends, and nothing is written or read.
    let look_only = school.room_cert_granting("cert-look", "101", "mueller", "screenshot,watch");
    let room = RoomCertificate::load(&look_only).unwrap();
    let (_endpoint, connection) = pult_e2e::raw_connection(&room, &device).await;
    let requests = [
        Request::SendFiles {
            overwrite: true,
            open: false,
        },
        Request::CollectFiles {
            folder: None,
            pattern: None,
        },
        Request::FileData { batch: 1, index: 0 },
        Request::FetchFile { batch: 1, index: 0 },
    ];
    for request in &requests {
        not_granted(&ask(&connection, request).await, "'files'");
    }
    connection.close(0u32.into(), b"done");
    let out = school.path("eingesammelt");
    let collected = pultctl(&look_only, &["collect", "--out", out.to_str().unwrap()]);
    assert!(!collected.success);
    assert!(tree(&out).is_empty(), "{:?}", tree(&out));
    assert_eq!(tree(&folder), ["Blatt.txt"]);
    // Each refusal is in the agent's log, naming why.
    let refused: Vec<_> = agent
        .audit()
        .into_iter()
        .filter(|e| {
            e["action"]
                .as_str()
                .is_some_and(|a| a.starts_with("files-"))
                && e["result"] != "ok"
        })
        .collect();
    assert!(refused.len() >= 3, "{refused:#?}");
    assert!(
        refused
            .iter()
            .all(|e| e["reason"].as_str().unwrap_or("").contains("not-granted")),
        "{refused:#?}"
    );
}
