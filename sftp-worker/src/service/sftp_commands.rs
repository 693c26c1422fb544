//! `/test_sftp` and `/list_sftp_files`: a connection within the guild's quota, the
//! server's folders found, a listing filtered by a shell pattern.

use std::time::Instant;

use tonic::{Request, Response, Status};
use tower_ingest::source::ByteSource;
use tower_ingest::source::SourceErrorKind;
use tower_proto::v1::{
    FileEntry, ListFilesReply, ListFilesRequest, TestServerReply, TestServerRequest, TestStep,
};

use crate::connection::Step;
use crate::discovery::discover;

use super::Worker;

/// Most entries `ListFiles` returns.
const MAX_LIST: usize = 1000;

impl Worker {
    pub(super) async fn test_server_rpc(
        &self,
        request: Request<TestServerRequest>,
    ) -> Result<Response<TestServerReply>, Status> {
        let server = self.server(request.into_inner().server).await?;
        let mut steps = Vec::new();
        let (conn, held) = match self.connect(&server, &mut steps).await {
            Ok(c) => c,
            Err((kind, message)) => {
                let error_id = self.report(&server, &kind, &message, "test_sftp");
                return Ok(Response::new(TestServerReply {
                    ok: false,
                    steps: steps.iter().map(proto_step).collect(),
                    error_id,
                    ..TestServerReply::default()
                }));
            }
        };
        let source = conn.source();
        let start = Instant::now();
        let found = discover(&source, server.server.as_str()).await;
        let elapsed = start.elapsed();
        let host_key = conn.host_key.clone();
        // Permits and slot go back once the session is gone.
        conn.close_releasing(held).await;
        let mut reply = TestServerReply {
            host_key_sha256: host_key,
            ..TestServerReply::default()
        };
        match found {
            Ok(layout) => {
                let killfeed_ok = !layout.killfeed_dirs.is_empty();
                steps.push(Step {
                    name: "find_killfeed",
                    ok: killfeed_ok,
                    detail: if killfeed_ok {
                        format!(
                            "{} CSV files in {}",
                            layout.csv_files,
                            layout.killfeed_dirs.join(", ")
                        )
                    } else {
                        format!(
                            "no deathlogs/world_* folder found ({} folders searched)",
                            layout.dirs_searched
                        )
                    },
                    elapsed,
                });
                steps.push(Step {
                    name: "find_log",
                    ok: layout.log_path.is_some(),
                    detail: layout
                        .log_path
                        .clone()
                        .unwrap_or_else(|| "no Deadside.log found".to_owned()),
                    elapsed,
                });
                reply.ok = killfeed_ok;
                reply.killfeed_folders = layout
                    .folders
                    .iter()
                    .map(|f| tower_proto::v1::KillfeedFolder {
                        path: f.path.clone(),
                        csv_files: f.csv_files,
                        newest_file: f.newest.as_ref().map(|n| n.0.clone()).unwrap_or_default(),
                        newest_mtime_unix: f.newest.as_ref().map_or(0, |n| n.1),
                    })
                    .collect();
                reply.killfeed_dirs = layout.killfeed_dirs;
                reply.log_path = layout.log_path.unwrap_or_default();
                reply.csv_files = layout.csv_files;
            }
            Err(e) => {
                let message = format!("searching the server's folders failed: {e}");
                steps.push(Step {
                    name: "find_killfeed",
                    ok: false,
                    detail: message.clone(),
                    elapsed,
                });
                reply.error_id = self.report(&server, "sftp.discovery", &message, "test_sftp");
            }
        }
        if !reply.ok && reply.error_id.is_empty() {
            reply.error_id = self.report(
                &server,
                "sftp.no_killfeed",
                "no killfeed folder found",
                "test_sftp",
            );
        }
        reply.steps = steps.iter().map(proto_step).collect();
        Ok(Response::new(reply))
    }

    pub(super) async fn list_files_rpc(
        &self,
        request: Request<ListFilesRequest>,
    ) -> Result<Response<ListFilesReply>, Status> {
        let r = request.into_inner();
        let server = self.server(r.server).await?;
        let mut steps = Vec::new();
        let (conn, held) = self
            .connect(&server, &mut steps)
            .await
            .map_err(|(kind, message)| {
                let id = self.report(&server, &kind, &message, "list_sftp_files");
                Status::failed_precondition(format!("{message} (error id {id})"))
            })?;
        let source = conn.source();
        let path = if r.log_folder {
            let log = discover(&source, server.server.as_str())
                .await
                .ok()
                .and_then(|l| l.log_path);
            match log {
                Some(log) => log
                    .rsplit_once('/')
                    .map_or_else(String::new, |(dir, _)| dir.to_owned()),
                None => {
                    conn.close_releasing(held).await;
                    return Err(Status::not_found(
                        "no server log (Deadside.log) was found on this server",
                    ));
                }
            }
        } else if r.path.trim().is_empty() {
            discover(&source, server.server.as_str())
                .await
                .ok()
                .and_then(|l| l.killfeed_dirs.into_iter().next())
                .unwrap_or_default()
        } else {
            r.path.trim().to_owned()
        };
        let listed = source.list(&path).await;
        // Permits and slot go back once the session is gone.
        conn.close_releasing(held).await;
        let entries = listed.map_err(|e| {
            let message = format!(
                "cannot list {}: {}",
                if path.is_empty() {
                    "the home folder"
                } else {
                    &path
                },
                e.message
            );
            match e.kind {
                SourceErrorKind::TooLarge => Status::resource_exhausted(message),
                _ => Status::not_found(message),
            }
        })?;
        let limit = if r.limit == 0 {
            100
        } else {
            (r.limit as usize).min(MAX_LIST)
        };
        let mut matching: Vec<FileEntry> = entries
            .into_iter()
            .filter(|e| glob_match(&r.pattern, &e.name))
            .map(|e| FileEntry {
                path: e.path,
                size: e.size,
                mtime_unix: e.mtime,
                is_dir: e.is_dir,
            })
            .collect();
        // Logs pile up as rotated copies: the newest are the ones asked for.
        if r.log_folder {
            matching.sort_by_key(|e| std::cmp::Reverse(e.mtime_unix));
        }
        let truncated = matching.len() > limit;
        Ok(Response::new(ListFilesReply {
            entries: matching.into_iter().take(limit).collect(),
            truncated,
        }))
    }
}

fn proto_step(s: &Step) -> TestStep {
    TestStep {
        name: s.name.to_owned(),
        ok: s.ok,
        detail: s.detail.clone(),
        elapsed_ms: u64::try_from(s.elapsed.as_millis()).unwrap_or(u64::MAX),
    }
}

// Ours: `*` and `?` only, case-insensitive, no compile step; globset would add a regex
// engine for one listing filter.
/// `*` any run of characters, `?` one character, case-insensitive; empty matches
/// everything. Linear backtracking (one remembered star), so no pattern can make it slow.
fn glob_match(pattern: &str, name: &str) -> bool {
    if pattern.is_empty() {
        return true;
    }
    let p: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    let n: Vec<char> = name.chars().flat_map(char::to_lowercase).collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == '?' || c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn patterns_match_like_a_shell() {
        assert!(glob_match("", "anything"));
        assert!(glob_match("*.csv", "2025.05.01-00.00.00.csv"));
        assert!(glob_match("2025.05.*", "2025.05.01-00.00.00.csv"));
        assert!(!glob_match("*.csv", "Deadside.log"));
        assert!(glob_match("Deadside.???", "deadside.log"));
        assert!(glob_match("*a*b*", "xxaxxbxx"));
        assert!(!glob_match("*a*b", "xxaxxbxx"));
        // A pattern built to backtrack badly still answers at once.
        let nasty = format!("{}x", "*".repeat(30));
        assert!(!glob_match(&nasty, &"a".repeat(200)));
    }
}
