//! Finding a game server's killfeed folders and server log on its SFTP host.
//!
//! The layout is `{host}_{id}/actual1/deathlogs/world_N/*.csv` and
//! `{host}_{id}/Logs/Deadside.log`, but hosts differ: the root may be relative, the world
//! number varies, the folder may be named differently. So search, breadth first and
//! bounded, and prefer what sits under a folder ending in `_{server id}`.

use std::collections::VecDeque;

use tower_ingest::source::{ByteSource, FileMeta, SourceError};

/// How deep and how wide the search goes before giving up.
const MAX_DEPTH: usize = 6;
const MAX_DIRS: usize = 400;

/// What was found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Every `deathlogs/world_*` folder of the server, in name order: each is read.
    pub killfeed_dirs: Vec<String>,
    /// The same folders with what they held when searched.
    pub folders: Vec<KillfeedFolder>,
    pub log_path: Option<String>,
    pub csv_files: u32,
    pub dirs_searched: usize,
    /// `deathlogs/world_*` folders that could not be listed (searched past, so a read
    /// goes on with the others; an import must not take their files for gone).
    pub unlisted_killfeed_dirs: Vec<String>,
}

/// A killfeed folder as found: how many CSV files, the newest (name, mtime) and the oldest
/// name (where the CSV history it still holds begins).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct KillfeedFolder {
    pub path: String,
    pub csv_files: u32,
    pub newest: Option<(String, i64)>,
    pub oldest: Option<String>,
}

pub async fn discover<S: ByteSource>(source: &S, server_id: &str) -> Result<Layout, SourceError> {
    let mut layout = Layout::default();
    let mut logs: Vec<String> = Vec::new();
    let mut csv_counts: Vec<KillfeedFolder> = Vec::new();
    let mut queue: VecDeque<(String, usize, Option<String>)> =
        VecDeque::from([(String::new(), 0, None)]);
    let suffix = format!("_{server_id}");
    while let Some((dir, depth, parent_name)) = queue.pop_front() {
        if layout.dirs_searched >= MAX_DIRS {
            break;
        }
        layout.dirs_searched += 1;
        let entries = match source.list(&dir).await {
            Ok(e) => e,
            // An unreadable folder deep down is not the search's failure.
            Err(e) if depth > 0 => {
                tracing::debug!(dir, error = %e, "folder skipped");
                let name = dir.rsplit('/').next().unwrap_or_default();
                if parent_name.as_deref() == Some("deathlogs") && name.starts_with("world") {
                    layout.unlisted_killfeed_dirs.push(dir.clone());
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        let name = dir.rsplit('/').next().unwrap_or_default().to_owned();
        let is_world = parent_name.as_deref() == Some("deathlogs") && name.starts_with("world");
        if is_world {
            let csv: Vec<&FileMeta> = entries.iter().filter(|f| is_csv(f)).collect();
            // Files are named by their start time: the greatest name is the newest.
            let newest = csv.iter().max_by(|a, b| a.name.cmp(&b.name));
            let oldest = csv.iter().map(|f| &f.name).min();
            csv_counts.push(KillfeedFolder {
                path: dir.clone(),
                csv_files: u32::try_from(csv.len()).unwrap_or(u32::MAX),
                newest: newest.map(|f| (f.name.clone(), f.mtime)),
                oldest: oldest.cloned(),
            });
        }
        // On a host with many servers, go straight into this server's own folder.
        let own_dirs = entries
            .iter()
            .any(|e| e.is_dir && e.name.ends_with(&suffix));
        for entry in &entries {
            if own_dirs && entry.is_dir && !entry.name.ends_with(&suffix) {
                continue;
            }
            if entry.is_dir && depth < MAX_DEPTH {
                queue.push_back((entry.path.clone(), depth + 1, Some(name.clone())));
            } else if !entry.is_dir && entry.name == "Deadside.log" {
                logs.push(entry.path.clone());
            }
        }
    }
    // What sits under this server's own folder wins; something found elsewhere is only
    // used when it is the one candidate on the host (a host can hold several servers, and
    // reading another server's files would mix their data).
    let ours = |p: &String| p.split('/').any(|part| part.ends_with(&suffix));
    let any_ours = csv_counts.iter().any(|f| ours(&f.path)) || logs.iter().any(ours);
    if any_ours {
        csv_counts.retain(|f| ours(&f.path));
        logs.retain(ours);
    } else {
        // Several world folders of one `deathlogs` are one server's; folders under
        // different `deathlogs` may be different servers'.
        let parent = |f: &KillfeedFolder| f.path.rsplit_once('/').map(|(p, _)| p.to_owned());
        let first = csv_counts.first().and_then(parent);
        if csv_counts.iter().any(|f| parent(f) != first) {
            csv_counts.clear();
        }
        if logs.len() > 1 {
            logs.clear();
        }
    }
    csv_counts.sort_by(|a, b| a.path.cmp(&b.path));
    layout.csv_files = csv_counts
        .iter()
        .map(|f| f.csv_files)
        .fold(0, u32::saturating_add);
    layout.killfeed_dirs = csv_counts.iter().map(|f| f.path.clone()).collect();
    layout.folders = csv_counts;
    layout.log_path = logs.into_iter().next();
    Ok(layout)
}

fn is_csv(f: &FileMeta) -> bool {
    !f.is_dir && f.name.to_ascii_lowercase().ends_with(".csv")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_ingest::source::LocalSource;

    #[tokio::test]
    async fn finds_the_server_folders_wherever_they_are() {
        let root = std::env::temp_dir().join(format!("tower-discovery-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let mk = |p: &str| std::fs::create_dir_all(root.join(p)).unwrap_or_else(|e| panic!("{e}"));
        let touch = |p: &str| std::fs::write(root.join(p), b"").unwrap_or_else(|e| panic!("{e}"));
        mk("srv/1.2.3.4_7020/actual1/deathlogs/world_1");
        mk("srv/1.2.3.4_7020/actual1/deathlogs/world_0");
        mk("srv/1.2.3.4_7020/Logs");
        mk("srv/1.2.3.4_8000/actual1/deathlogs/world_0");
        touch("srv/1.2.3.4_7020/actual1/deathlogs/world_1/2025.05.01-00.00.00.csv");
        touch("srv/1.2.3.4_7020/actual1/deathlogs/world_1/2025.05.02-00.00.00.csv");
        touch("srv/1.2.3.4_7020/Logs/Deadside.log");
        let layout = discover(&LocalSource::new(&root), "7020")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // An empty world_0 beside a live world_1: both are read.
        assert_eq!(
            layout.killfeed_dirs,
            vec![
                "srv/1.2.3.4_7020/actual1/deathlogs/world_0".to_owned(),
                "srv/1.2.3.4_7020/actual1/deathlogs/world_1".to_owned()
            ]
        );
        assert_eq!(layout.folders[0].newest, None);
        assert_eq!(
            layout.folders[1].newest.as_ref().map(|(n, _)| n.as_str()),
            Some("2025.05.02-00.00.00.csv")
        );
        assert_eq!(
            layout.log_path.as_deref(),
            Some("srv/1.2.3.4_7020/Logs/Deadside.log")
        );
        assert_eq!(layout.csv_files, 2);
        let _ = std::fs::remove_dir_all(&root);
    }
}
