//! A teacher's favourite programs and web pages, kept per teacher in the
//! user's configuration folder (`~/.config/pult/favourites/USER.json`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ConsoleError;
use crate::files::safe_name;

/// A program kept at hand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramFavourite {
    /// What the button says.
    pub label: String,
    /// The program.
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
}

/// A web page kept at hand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebsiteFavourite {
    /// What the button says.
    pub label: String,
    /// The address.
    pub url: String,
}

/// One teacher's favourites.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Favourites {
    /// Programs.
    pub programs: Vec<ProgramFavourite>,
    /// Web pages.
    pub websites: Vec<WebsiteFavourite>,
}

/// Where one teacher's favourites are kept.
#[derive(Clone, Debug)]
pub struct FavouritesStore {
    path: PathBuf,
}

impl FavouritesStore {
    /// The store of `teacher`, in the user's configuration folder or `config` when given.
    pub fn for_teacher(teacher: &str, config: Option<PathBuf>) -> Self {
        let config = config
            .or_else(dirs::config_dir)
            .unwrap_or_else(|| PathBuf::from("."));
        Self {
            path: config
                .join("pult")
                .join("favourites")
                .join(format!("{}.json", safe_name(teacher))),
        }
    }

    /// The teacher's favourites; none yet is an empty list.
    pub fn load(&self) -> Result<Favourites, ConsoleError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                ConsoleError::Storage(format!("{} is damaged: {e}", self.path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Favourites::default()),
            Err(e) => Err(ConsoleError::Storage(format!(
                "could not read {}: {e}",
                self.path.display()
            ))),
        }
    }

    /// Replaces the teacher's favourites (written whole or not at all).
    pub fn save(&self, favourites: &Favourites) -> Result<(), ConsoleError> {
        let json = serde_json::to_vec_pretty(favourites)
            .map_err(|e| ConsoleError::Storage(e.to_string()))?;
        crate::files::write_atomically(&self.path, &json).map_err(|e| {
            ConsoleError::Storage(format!("could not save {}: {e}", self.path.display()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn favourites_are_kept_per_teacher() {
        let config = tempfile::tempdir().unwrap();
        let mueller = FavouritesStore::for_teacher("mueller", Some(config.path().to_owned()));
        let schmidt = FavouritesStore::for_teacher("schmidt", Some(config.path().to_owned()));
        assert_eq!(mueller.load().unwrap(), Favourites::default());
        let favourites = Favourites {
            programs: vec![ProgramFavourite {
                label: "GeoGebra".into(),
                program: "geogebra".into(),
                args: vec![],
            }],
            websites: vec![WebsiteFavourite {
                label: "Lernplattform".into(),
                url: "https://lms.example".into(),
            }],
        };
        mueller.save(&favourites).unwrap();
        assert_eq!(mueller.load().unwrap(), favourites);
        assert_eq!(schmidt.load().unwrap(), Favourites::default());
    }

    #[test]
    fn a_damaged_file_is_reported_not_replaced() {
        let config = tempfile::tempdir().unwrap();
        let store = FavouritesStore::for_teacher("mueller", Some(config.path().to_owned()));
        store.save(&Favourites::default()).unwrap();
        std::fs::write(
            config.path().join("pult/favourites/mueller.json"),
            "{broken",
        )
        .unwrap();
        assert!(store.load().unwrap_err().to_string().contains("damaged"));
    }
}
