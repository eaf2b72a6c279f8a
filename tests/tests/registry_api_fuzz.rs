//! The registry's API against its own OpenAPI document, by a property-based
//! API fuzzer (schemathesis from PyPI): valid and invalid calls made up from
//! the document, signed in as an admin. No answer may be a server error, and
//! every answer must be one the document lists, with the content type and
//! the body it describes. The report is kept in target/registry-api-fuzz/.

use std::path::PathBuf;
use std::process::Command;

use pult_e2e::{RegistryServer, School, artifacts};
use serde_json::Value;

/// The schemathesis release the test was written against (its flags change between releases).
const SCHEMATHESIS: &str = "schemathesis==4.32.5";
const ADMIN_PASSWORD: &str = "Verwaltung-2026!";

#[test]
fn the_api_answers_every_call_its_document_allows_as_the_document_says() {
    let school = School::with_teacher("Oberschule Mitte");
    school.import("name,room,ip\nPC-01,101,127.0.0.1:41001\nPC-02,102,127.0.0.1:41002\n");
    school.registry(&["user", "add", "admin", "--group", "admins"]);
    school.registry(&["group", "admins", "admins"]);
    school.registry_with_input(
        &["user", "password", "admin"],
        &format!("{ADMIN_PASSWORD}\n"),
    );
    school.token(&["--room", "101", "--uses", "3"]);
    let server = RegistryServer::start(&school, &[]);

    let http: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .disable_verification(true)
                .build(),
        )
        .build()
        .into();
    let ca: Value = http
        .get(format!("{}/api/v1/ca", server.url))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    let out = artifacts("registry-api-fuzz");
    let ca_file = out.join("school-ca.pem");
    std::fs::write(&ca_file, ca["ca_pem"].as_str().unwrap()).unwrap();
    let tokens: Value = http
        .post(format!("{}/api/v1/sign-in", server.url))
        .send_json(serde_json::json!({"user": "admin", "password": ADMIN_PASSWORD}))
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    let bearer = format!(
        "Authorization: Bearer {}",
        tokens["access_token"].as_str().unwrap()
    );

    let schemathesis = install_schemathesis();
    let work = tempfile::tempdir().unwrap();
    let junit = out.join("junit.xml");
    let run = Command::new(schemathesis)
        // It keeps its caches in the folder it runs in.
        .current_dir(work.path())
        .args(["--no-color", "run"])
        .arg(format!("{}/api/v1/openapi.json", server.url))
        .arg("--tls-verify")
        .arg(&ca_file)
        .args(["-H", &bearer])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        // Signing out would end the admin's token for every later call.
        .args(["--exclude-path", "/api/v1/sign-out"])
        .args(["--mode", "all", "--max-examples", "40", "--seed", "1"])
        .args(["--workers", "2", "--generation-database", "none"])
        .args(["--report", "junit", "--report-junit-path"])
        .arg(&junit)
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    std::fs::write(out.join("report.txt"), &report).unwrap();
    println!("{report}");
    assert!(
        run.status.success(),
        "schemathesis found calls the API answers against its document (report in {}):\n{report}",
        out.display()
    );
    // The run covered the API, not nothing.
    let covered = std::fs::read_to_string(&junit).unwrap();
    for operation in [
        "POST /api/v1/sign-in",
        "POST /api/v1/sign-in/code",
        "POST /api/v1/enrol",
        "GET /api/v1/devices",
        "PUT /api/v1/devices/{name}/steerable",
        "DELETE /api/v1/enrolment-tokens/{id}",
    ] {
        assert!(
            covered.contains(&format!("\"{operation}\"")),
            "{operation} was not tried: {}",
            junit.display()
        );
    }
}

/// schemathesis in a virtual environment of its own under target/, made once
/// (a file lock keeps two test binaries from making it at once).
fn install_schemathesis() -> PathBuf {
    let venv = artifacts("schemathesis-venv");
    let program = venv.join("bin/schemathesis");
    let lock = std::fs::File::create(venv.with_extension("lock")).unwrap();
    lock.lock().unwrap();
    let installed = Command::new(&program)
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(version()));
    if !installed {
        run(Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&venv));
        run(Command::new(venv.join("bin/pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            SCHEMATHESIS,
        ]));
    }
    let _ = lock.unlock();
    program
}

fn version() -> &'static str {
    SCHEMATHESIS.split("==").nth(1).unwrap()
}

fn run(command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e} (python3 with venv and pip is needed)"));
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
