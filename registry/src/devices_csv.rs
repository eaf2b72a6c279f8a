//! Device lists as CSV, the format school device managements export.
//!
//! A header line names the columns (any order; only `name` and `room` are
//! required; German names such as `Raum`, `Inventarnummer`, `Steuerbar` are
//! understood too), then one device a line. Several MACs or IPs are
//! separated by spaces, tags by `;`. `steerable` is `yes` or `no` (also
//! `ja`/`nein`); empty means yes. A bad line is reported with its line
//! number and column, and the whole file is refused.
//!
//! Files come as real schools' tools write them: separated by commas, by
//! semicolons (spreadsheets in German locale) or tabs, told apart by the
//! header line; UTF-8 with or without a byte order mark, or Windows-1252
//! (what a German Excel saves as "CSV").
//!
//! A column the file does not have is not part of the import: an update
//! leaves that field of a registered device as it was.

use std::collections::HashMap;
use std::io::{Read, Write};

use crate::model::{DeviceFields, DeviceName, DeviceRecord};

/// The columns, in the order `export` writes them.
pub const COLUMNS: [&str; 10] = [
    "name",
    "room",
    "position",
    "inventory",
    "mac",
    "ip",
    "description",
    "tags",
    "owner",
    "steerable",
];

/// Other names of the columns, as German school tools and people write them.
const ALIASES: [(&str, &str); 17] = [
    ("gerät", "name"),
    ("geraet", "name"),
    ("raum", "room"),
    ("platz", "position"),
    ("inventarnummer", "inventory"),
    ("inventar", "inventory"),
    ("mac-adresse", "mac"),
    ("mac-adressen", "mac"),
    ("ip-adresse", "ip"),
    ("ip-adressen", "ip"),
    ("beschreibung", "description"),
    ("markierungen", "tags"),
    ("tag", "tags"),
    ("eigentümer", "owner"),
    ("besitzer", "owner"),
    ("steuerbar", "steerable"),
    ("bemerkung", "description"),
];

/// A device list read from a file: the devices, and which columns the file had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceList {
    /// One entry a line.
    pub devices: Vec<DeviceFields>,
    /// The columns the file has (of [`COLUMNS`]); only these are imported.
    pub columns: Vec<&'static str>,
}

/// The text of a file's bytes: UTF-8 (a byte order mark dropped), or else
/// Windows-1252, which every byte sequence is.
pub fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => bytes.iter().map(|&b| windows_1252(b)).collect(),
    }
}

/// One Windows-1252 byte as a character: Latin-1, except 0x80–0x9F.
fn windows_1252(byte: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    match byte {
        0x80..=0x9f => HIGH[usize::from(byte - 0x80)],
        other => char::from(other),
    }
}

/// The separator of a file: the one of `,`, `;` and tab that its header
/// line (outside quotes) holds most of; a comma when it holds none.
fn separator(text: &str) -> u8 {
    let header = text.lines().next().unwrap_or_default();
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
    let mut quoted = false;
    for byte in header.bytes() {
        if byte == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(count) = counts.iter_mut().find(|(c, _)| *c == byte) {
            count.1 += 1;
        }
    }
    counts
        .iter()
        .max_by_key(|(c, n)| (*n, *c == b','))
        .map_or(b',', |(c, _)| *c)
}

/// Where in a CSV file something was wrong, and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}, line {line}{}: {problem}", column.as_ref().map(|(n, name)| format!(", column {n} ({name})")).unwrap_or_default())]
pub struct CsvError {
    /// The file (or "standard input").
    pub source_name: String,
    /// The line, counting from 1.
    pub line: u64,
    /// The column: its number counting from 1, and its header name.
    pub column: Option<(usize, String)>,
    /// What is wrong.
    pub problem: String,
}

/// Reads a device list from a file's bytes (see [`decode`]); `source_name`
/// names the file in errors.
pub fn read_device_file(bytes: &[u8], source_name: &str) -> Result<DeviceList, CsvError> {
    let text = decode(bytes);
    let mut list = read_devices_separated(text.as_bytes(), source_name, separator(&text))?;
    list.columns
        .sort_by_key(|c| COLUMNS.iter().position(|k| k == c));
    Ok(list)
}

/// Reads a comma-separated device list. `source_name` names the file in errors.
pub fn read_devices(input: impl Read, source_name: &str) -> Result<Vec<DeviceFields>, CsvError> {
    Ok(read_devices_separated(input, source_name, b',')?.devices)
}

fn read_devices_separated(
    input: impl Read,
    source_name: &str,
    separator: u8,
) -> Result<DeviceList, CsvError> {
    let error = |line: u64, column: Option<(usize, String)>, problem: String| CsvError {
        source_name: source_name.to_owned(),
        line,
        column,
        problem,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(separator)
        .from_reader(input);
    let mut records = reader.records();

    let header = match records.next() {
        Some(Ok(header)) => header,
        Some(Err(e)) => return Err(error(line_of(&e), None, e.to_string())),
        None => {
            return Err(error(
                1,
                None,
                "the file is empty; expected a header line".into(),
            ));
        }
    };
    let columns = parse_header(&header).map_err(|(column, problem)| error(1, column, problem))?;

    let mut devices: Vec<DeviceFields> = Vec::new();
    let mut seen: HashMap<DeviceName, u64> = HashMap::new();
    for record in records {
        let record = record.map_err(|e| error(line_of(&e), None, e.to_string()))?;
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(|field| field.trim().is_empty()) {
            continue;
        }
        if record.len() != header.len() {
            return Err(error(
                line,
                None,
                format!(
                    "{} fields, but the header has {}",
                    record.len(),
                    header.len()
                ),
            ));
        }
        let device = parse_line(&record, &columns).map_err(|(index, problem)| {
            error(
                line,
                Some((index + 1, header[index].trim().to_owned())),
                problem,
            )
        })?;
        if let Some(first) = seen.insert(device.name.clone(), line) {
            let index = columns.index("name").unwrap_or(0);
            return Err(error(
                line,
                Some((index + 1, "name".into())),
                format!("device '{}' is already on line {first}", device.name),
            ));
        }
        devices.push(device);
    }
    Ok(DeviceList {
        devices,
        columns: columns.0.keys().copied().collect(),
    })
}

/// Writes devices with all [`COLUMNS`], in a form [`read_devices`] reads back.
pub fn write_devices(output: impl Write, devices: &[DeviceRecord]) -> Result<(), csv::Error> {
    let mut writer = csv::Writer::from_writer(output);
    writer.write_record(COLUMNS)?;
    for DeviceRecord { fields, .. } in devices {
        writer.write_record(values(fields))?;
    }
    writer.flush()?;
    Ok(())
}

/// A device's fields as a CSV line holds them, in the order of [`COLUMNS`].
pub fn values(d: &DeviceFields) -> [String; 10] {
    let join = |items: Vec<String>, separator: &str| items.join(separator);
    [
        d.name.to_string(),
        d.room.to_string(),
        d.position.clone().unwrap_or_default(),
        d.inventory.clone().unwrap_or_default(),
        join(d.macs.iter().map(ToString::to_string).collect(), " "),
        join(d.addresses.iter().map(ToString::to_string).collect(), " "),
        d.description.clone().unwrap_or_default(),
        d.tags.join(";"),
        d.owner.clone().unwrap_or_default(),
        if d.steerable { "yes" } else { "no" }.to_owned(),
    ]
}

/// Which file column holds which known column.
struct Columns(HashMap<&'static str, usize>);

impl Columns {
    fn index(&self, name: &str) -> Option<usize> {
        self.0.get(name).copied()
    }
}

fn parse_header(header: &csv::StringRecord) -> Result<Columns, (Option<(usize, String)>, String)> {
    let mut columns = HashMap::new();
    for (index, raw) in header.iter().enumerate() {
        let name = raw.trim().trim_start_matches('\u{feff}').to_lowercase();
        let name = ALIASES
            .iter()
            .find(|(alias, _)| *alias == name)
            .map_or(name.as_str(), |(_, column)| column);
        let at = Some((index + 1, raw.trim().to_owned()));
        let Some(known) = COLUMNS.iter().find(|c| **c == name) else {
            return Err((
                at,
                format!(
                    "unknown column '{}'; the columns are {}",
                    raw.trim(),
                    COLUMNS.join(",")
                ),
            ));
        };
        if columns.insert(*known, index).is_some() {
            return Err((at, format!("column '{known}' appears twice")));
        }
    }
    for required in ["name", "room"] {
        if !columns.contains_key(required) {
            return Err((None, format!("the header has no '{required}' column")));
        }
    }
    Ok(Columns(columns))
}

/// Parses one line; an error names the file column index and the problem.
fn parse_line(
    record: &csv::StringRecord,
    columns: &Columns,
) -> Result<DeviceFields, (usize, String)> {
    let field = |name: &str| -> (usize, &str) {
        columns
            .index(name)
            .map_or((0, ""), |i| (i, record.get(i).unwrap_or("").trim()))
    };
    let optional = |name: &str| {
        let (_, value) = field(name);
        (!value.is_empty()).then(|| value.to_owned())
    };
    let parse_list = |name: &str| {
        let (index, value) = field(name);
        (
            index,
            value
                .split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>(),
        )
    };

    let (index, name) = field("name");
    let name = name
        .parse()
        .map_err(|e: crate::model::NameError| (index, e.to_string()))?;
    let (index, room) = field("room");
    let room = room
        .parse()
        .map_err(|e: crate::model::NameError| (index, e.to_string()))?;
    let (index, macs) = parse_list("mac");
    let macs = macs
        .iter()
        .map(|m| m.parse())
        .collect::<Result<_, crate::model::NameError>>()
        .map_err(|e| (index, e.to_string()))?;
    let (index, addresses) = parse_list("ip");
    let addresses = addresses
        .iter()
        .map(|a| a.parse())
        .collect::<Result<_, _>>()
        .map_err(|e: pult_protocol::address::AddressError| (index, e.to_string()))?;
    let (_, tags) = field("tags");
    let tags = tags
        .split(';')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    let (index, steerable) = field("steerable");
    let steerable = match steerable.to_lowercase().as_str() {
        "" | "yes" | "ja" => true,
        "no" | "nein" => false,
        other => return Err((index, format!("'{other}' is not yes or no"))),
    };
    Ok(DeviceFields {
        name,
        room,
        position: optional("position"),
        inventory: optional("inventory"),
        macs,
        addresses,
        description: optional("description"),
        tags,
        owner: optional("owner"),
        steerable,
    })
}

fn line_of(error: &csv::Error) -> u64 {
    error.position().map_or(0, |p| p.line())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Vec<DeviceFields>, CsvError> {
        read_devices(text.as_bytes(), "devices.csv")
    }

    #[test]
    fn a_full_line_parses_into_every_field() {
        let devices = read(
            "name,room,position,inventory,mac,ip,description,tags,owner,steerable\n\
             PC-01,101,\"Reihe 1, Platz 1\",INV-7,00:1a:2b:3c:4d:5e 00-1A-2B-3C-4D-5F,10.0.1.11 fd00::11,Lehrer-nah,Physik; Beamer,,no\n",
        )
        .unwrap();
        let d = &devices[0];
        assert_eq!(d.name.as_str(), "PC-01");
        assert_eq!(d.position.as_deref(), Some("Reihe 1, Platz 1"));
        assert_eq!(d.macs.len(), 2);
        assert_eq!(d.addresses[1].to_string(), "fd00::11");
        assert_eq!(d.tags, ["Physik", "Beamer"]);
        assert_eq!(d.owner, None);
        assert!(!d.steerable);
    }

    #[test]
    fn only_name_and_room_are_required_in_any_order_and_empty_steerable_is_yes() {
        let devices = read("\u{feff}Room,Name\n101,PC-01\n\n102,PC-02\n").unwrap();
        assert_eq!(devices.len(), 2);
        assert_eq!(devices[1].room.as_str(), "102");
        assert!(devices[0].steerable);
    }

    #[test]
    fn a_bad_value_names_line_and_column() {
        let error = read("name,room,steerable\nPC-01,101,yes\nPC-02,101,vielleicht\n").unwrap_err();
        assert_eq!(error.line, 3);
        assert_eq!(error.column, Some((3, "steerable".into())));
        assert_eq!(
            error.to_string(),
            "devices.csv, line 3, column 3 (steerable): 'vielleicht' is not yes or no"
        );
        let error = read("name,room,ip\nPC-01,101,10.0.0.300\n").unwrap_err();
        assert_eq!((error.line, error.column.unwrap().0), (2, 3));
        let error = read("name,room\n../x,101\n").unwrap_err();
        assert_eq!((error.line, error.column.unwrap().0), (2, 1));
    }

    #[test]
    fn header_problems_and_ragged_lines_and_duplicates_are_refused() {
        assert!(read("").unwrap_err().problem.contains("empty"));
        assert!(
            read("name\nPC-01\n")
                .unwrap_err()
                .problem
                .contains("'room'")
        );
        let error = read("name,room,colour\n").unwrap_err();
        assert_eq!(error.column, Some((3, "colour".into())));
        let error = read("name,room\nPC-01,101,extra\n").unwrap_err();
        assert_eq!(error.line, 2);
        let error = read("name,room\nPC-01,101\nPC-01,102\n").unwrap_err();
        assert_eq!(error.line, 3);
        assert!(error.problem.contains("line 2"));
    }

    #[test]
    fn a_german_excel_file_reads_with_semicolons_windows_1252_and_german_headers() {
        // "Raum;Gerät;Beschreibung;Steuerbar", saved by Excel as CSV: Windows-1252.
        let mut bytes = b"Raum;Ger\xe4t;Beschreibung;Steuerbar\r\n".to_vec();
        bytes.extend_from_slice(
            b"101;PC-01;\"N\xe4he Tafel; links\";nein\r\n102;PC-02;\x80 5 Pfand;ja\r\n",
        );
        let list = read_device_file(&bytes, "Geräte.csv").unwrap();
        assert_eq!(list.columns, ["name", "room", "description", "steerable"]);
        assert_eq!(list.devices[0].name.as_str(), "PC-01");
        assert_eq!(
            list.devices[0].description.as_deref(),
            Some("Nähe Tafel; links")
        );
        assert!(!list.devices[0].steerable);
        assert_eq!(list.devices[1].description.as_deref(), Some("€ 5 Pfand"));
        // UTF-8 with a byte order mark and tabs.
        let list = read_device_file(
            "\u{feff}name\troom\tinventory\nPC-03\t103\tINV-Ü1\n".as_bytes(),
            "x.tsv",
        )
        .unwrap();
        assert_eq!(list.devices[0].inventory.as_deref(), Some("INV-Ü1"));
        assert_eq!(list.columns, ["name", "room", "inventory"]);
        // An error still names line and column in the file's own header.
        let error = read_device_file(b"Raum;Ger\xe4t;Steuerbar\n101;PC-01;vielleicht\n", "g.csv")
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "g.csv, line 2, column 3 (Steuerbar): 'vielleicht' is not yes or no"
        );
    }

    #[test]
    fn quoted_fields_spanning_lines_keep_line_numbers_right() {
        let error =
            read("name,room,description\nPC-01,101,\"two\nlines\"\nPC 02,101,x\n").unwrap_err();
        assert_eq!(error.line, 4);
    }
}
