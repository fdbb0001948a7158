//! Backup settings: the schedule of automatic backups and the passphrase that encrypts the
//! keys inside every backup.

use crate::{env_name, Layered, Origin, Secret};

/// How many automatic backups are kept of each age (a grandfather-father-son rotation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupSchedule {
    /// The newest backup of each of the last N hours.
    pub hourly: u32,
    /// The newest backup of each of the last N days (UTC).
    pub daily: u32,
    /// The newest backup of each of the last N weeks (Monday to Sunday, UTC).
    pub weekly: u32,
}

/// One hour, in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;

impl BackupSchedule {
    /// Parses `hourly=24,daily=7,weekly=4` (any subset, any order; each count 0 to 1000, at
    /// least one above 0).
    pub fn parse(text: &str) -> Result<BackupSchedule, String> {
        let mut s = BackupSchedule {
            hourly: 0,
            daily: 0,
            weekly: 0,
        };
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}`: expected hourly=N, daily=N or weekly=N"))?;
            let n: u32 = v
                .trim()
                .parse()
                .ok()
                .filter(|n| *n <= 1000)
                .ok_or_else(|| {
                    format!("`{part}`: the count must be a whole number from 0 to 1000")
                })?;
            match k.trim() {
                "hourly" => s.hourly = n,
                "daily" => s.daily = n,
                "weekly" => s.weekly = n,
                other => return Err(format!("`{other}`: expected hourly, daily or weekly")),
            }
        }
        if s.hourly == 0 && s.daily == 0 && s.weekly == 0 {
            return Err("keeps no backup; e.g. hourly=24,daily=7,weekly=4".into());
        }
        Ok(s)
    }

    /// How often a backup is taken: every hour when hourly ones are kept, else every day,
    /// else every week.
    pub fn interval_ms(&self) -> i64 {
        if self.hourly > 0 {
            HOUR_MS
        } else if self.daily > 0 {
            24 * HOUR_MS
        } else {
            7 * 24 * HOUR_MS
        }
    }
}

/// `FERROCAST_BACKUP_SCHEDULE` and `FERROCAST_BACKUP_PASSPHRASE`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupSettings {
    /// Automatic backups into storage under `backups/`; `None`: off.
    pub schedule: Option<BackupSchedule>,
    /// The passphrase (environment or a `_FILE`, never `ferrocast.toml` itself).
    pub passphrase: Option<Secret<String>>,
}

impl Layered {
    pub(crate) fn backup(&self, problems: &mut Vec<String>) -> BackupSettings {
        let schedule = self
            .get("backup_schedule")
            .map(str::trim)
            .filter(|s| !s.is_empty() && *s != "off")
            .and_then(|s| match BackupSchedule::parse(s) {
                Ok(s) => Some(s),
                Err(e) => {
                    problems.push(format!("{} {e}", env_name("backup_schedule")));
                    None
                }
            });
        let passphrase = self
            .get("backup_passphrase")
            .map(|p| Secret::new(p.to_string()));
        if let Some((_, Origin::File(path))) = self.values.get("backup_passphrase") {
            problems.push(format!(
                "{}: backup_passphrase may not be written in the configuration file; set {} or {}_FILE",
                path.display(),
                env_name("backup_passphrase"),
                env_name("backup_passphrase")
            ));
        }
        if let Some(p) = &passphrase {
            if p.expose().chars().count() < 12 {
                problems.push(format!(
                    "{} must be at least 12 characters",
                    env_name("backup_passphrase")
                ));
            }
        }
        if schedule.is_some() && passphrase.is_none() {
            problems.push(format!(
                "{} needs {} (or {}_FILE): every backup encrypts the keys with it",
                env_name("backup_schedule"),
                env_name("backup_passphrase"),
                env_name("backup_passphrase")
            ));
        }
        BackupSettings {
            schedule,
            passphrase,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Sources};
    use std::collections::BTreeMap;

    #[test]
    fn the_passphrase_stays_out_of_the_file_and_a_schedule_needs_it() {
        let dir =
            std::env::temp_dir().join(format!("ferrocast-backup-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("ferrocast.toml");
        std::fs::write(&file, "backup_passphrase = \"a long enough passphrase\"\n").expect("write");
        let load = |config_file: Option<std::path::PathBuf>, env: &[(&str, &str)]| {
            Config::load(&Sources {
                config_file,
                working_dir: None,
                env: env
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                flags: BTreeMap::new(),
            })
        };
        let err = load(Some(file.clone()), &[])
            .expect_err("refused")
            .to_string();
        assert!(
            err.contains("may not be written in the configuration file"),
            "{err}"
        );
        let err = load(None, &[("FERROCAST_BACKUP_SCHEDULE", "daily=7")])
            .expect_err("refused")
            .to_string();
        assert!(err.contains("needs FERROCAST_BACKUP_PASSPHRASE"), "{err}");
        let err = load(
            None,
            &[
                ("FERROCAST_BACKUP_SCHEDULE", "daily=7"),
                ("FERROCAST_BACKUP_PASSPHRASE", "short"),
            ],
        )
        .expect_err("refused")
        .to_string();
        assert!(err.contains("at least 12 characters"), "{err}");
        let c = load(
            None,
            &[
                ("FERROCAST_BACKUP_SCHEDULE", "daily=7"),
                ("FERROCAST_BACKUP_PASSPHRASE", "a long enough passphrase"),
            ],
        )
        .expect("valid");
        assert_eq!(c.backup.schedule.map(|s| s.daily), Some(7));
        assert_eq!(
            c.backup.passphrase.as_ref().map(|p| p.expose().as_str()),
            Some("a long enough passphrase")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn schedules_parse_and_pick_their_interval() {
        let s = BackupSchedule::parse("hourly=24, daily=7,weekly=4").expect("valid");
        assert_eq!((s.hourly, s.daily, s.weekly), (24, 7, 4));
        assert_eq!(s.interval_ms(), HOUR_MS);
        assert_eq!(
            BackupSchedule::parse("daily=7")
                .expect("valid")
                .interval_ms(),
            24 * HOUR_MS
        );
        assert_eq!(
            BackupSchedule::parse("weekly=2")
                .expect("valid")
                .interval_ms(),
            7 * 24 * HOUR_MS
        );
        for bad in [
            "",
            "hourly=0",
            "monthly=3",
            "hourly",
            "daily=-1",
            "daily=5000",
        ] {
            assert!(BackupSchedule::parse(bad).is_err(), "{bad}");
        }
    }
}
