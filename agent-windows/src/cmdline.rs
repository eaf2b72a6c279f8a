//! Windows command lines: a program and its arguments joined so that the
//! program's C runtime (CommandLineToArgvW rules) splits them back exactly.
//! Plain logic, tested on every system.

/// Joins `program` and `args` into one command line, each quoted as needed.
/// The program is always quoted, so a path with spaces ("C:\Program Files\…")
/// can never be read as a shorter path (the unquoted-path attack).
pub fn join(program: &str, args: &[String]) -> String {
    let mut line = String::new();
    line.push('"');
    line.push_str(program);
    line.push('"');
    for arg in args {
        line.push(' ');
        push_quoted(&mut line, arg);
    }
    line
}

/// Appends `arg`, quoted where it has spaces, tabs, quotes or is empty.
fn push_quoted(line: &mut String, arg: &str) {
    if !arg.is_empty() && !arg.contains([' ', '\t', '\n', '\u{b}', '"']) {
        line.push_str(arg);
        return;
    }
    line.push('"');
    let mut backslashes = 0usize;
    for c in arg.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                // Backslashes before a quote are doubled, and the quote escaped.
                line.extend(std::iter::repeat_n('\\', backslashes * 2 + 1));
                line.push('"');
                backslashes = 0;
            }
            _ => {
                line.extend(std::iter::repeat_n('\\', backslashes));
                backslashes = 0;
                line.push(c);
            }
        }
    }
    // Backslashes before the closing quote are doubled.
    line.extend(std::iter::repeat_n('\\', backslashes * 2));
    line.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_quoted_only_where_needed_and_the_program_always() {
        let args: Vec<String> = ["service", "--bundle", r"C:\ProgramData\Pult Agent\bundle"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            join(r"C:\Program Files\Pult\pult-agent.exe", &args),
            r#""C:\Program Files\Pult\pult-agent.exe" service --bundle "C:\ProgramData\Pult Agent\bundle""#
        );
    }

    #[test]
    fn quotes_and_backslashes_survive_the_round_trip() {
        let cases = [
            ("", r#""""#),
            (r#"say "hi""#, r#""say \"hi\"""#),
            (r"C:\dir with space\", r#""C:\dir with space\\""#),
            (r"a\\b", r"a\\b"),
            (r#"a\"b"#, r#""a\\\"b""#),
        ];
        for (arg, quoted) in cases {
            assert_eq!(join("p", &[arg.to_owned()]), format!(r#""p" {quoted}"#));
        }
    }
}
