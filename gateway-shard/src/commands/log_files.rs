//! `/get_latest_logs server [hours] [count]` and `/download_log server path` (the earlier
//! bot's, EARLIER-BOT.md §2.9). The latest logs are listed from the server log's own
//! folder, as the worker found it, so nothing outside the server's logs is ever listed.
//! Files are not sent through Discord: a server log holds players' ids and addresses, and
//! is often larger than Discord's 25 MB, so `/download_log` answers how to get the file.

use twilight_util::builder::embed::{EmbedBuilder, EmbedFooterBuilder};

use tower_proto::v1::{FileEntry, ListFilesRequest, ServerRef};
use tower_store::ids::GuildId;

use crate::access::Caller;
use crate::bot::Bot;
use crate::embeds::{clip, colour, shown};
use crate::options::Invocation;
use crate::reply::{CommandError, Reply};

/// The most files `/get_latest_logs` lists.
const MOST_FILES: i64 = 20;
/// A log folder's entries asked of the worker (rotated logs pile up).
const LISTED: u32 = 1_000;

pub async fn run(bot: &Bot, caller: &Caller, inv: &Invocation) -> Result<Reply, CommandError> {
    match inv.path.as_str() {
        "get_latest_logs" => latest(bot, caller, inv).await,
        "download_log" => {
            let id = inv.server_id("server")?;
            // Proves the server is the caller's guild's.
            bot.servers.get(GuildId(caller.guild_id), &id).await?;
            Ok(Reply::embed(
                EmbedBuilder::new()
                    .title("Downloads are not sent through Discord")
                    .description(format!(
                        "A server log holds players' ids and addresses and is often larger than \
                         Discord's 25MB file size limit, so this bot does not attach it.\n\n\
                         • /get_latest_logs server:{id} lists the log files with their paths and sizes.\n\
                         • Download one with your host's file manager or any SFTP client, \
                         with the same login as /setup addserver.\n\
                         • What the bot read from them: /log_status and /setup check."
                    ))
                    .color(colour::INFO)
                    .build(),
            ))
        }
        other => Err(super::unknown(other)),
    }
}

async fn latest(bot: &Bot, caller: &Caller, inv: &Invocation) -> Result<Reply, CommandError> {
    let id = inv.server_id("server")?;
    let server = bot.servers.get(GuildId(caller.guild_id), &id).await?;
    let hours = inv.opt_int("hours")?.unwrap_or(24).clamp(1, 24 * 365);
    let count = inv.opt_int("count")?.unwrap_or(5).clamp(1, MOST_FILES);
    let request = ListFilesRequest {
        server: Some(ServerRef {
            guild_id: caller.guild_id,
            server_id: id.as_str().to_owned(),
        }),
        path: String::new(),
        pattern: "*.log".to_owned(),
        limit: LISTED,
        log_folder: true,
    };
    let listed = bot
        .workers
        .call(|mut w| {
            let request = request.clone();
            async move { w.list_files(request).await }
        })
        .await?
        .into_inner();
    let since = tower_daemon::telemetry::now_unix_ms() / 1000 - hours * 3600;
    let mut files: Vec<FileEntry> = listed
        .entries
        .into_iter()
        .filter(|e| !e.is_dir && e.mtime_unix >= since)
        .collect();
    files.sort_by(|a, b| b.mtime_unix.cmp(&a.mtime_unix).then(a.path.cmp(&b.path)));
    files.truncate(usize::try_from(count).unwrap_or(5));
    let folder = files
        .first()
        .and_then(|f| f.path.rsplit_once('/'))
        .map_or_else(String::new, |(dir, _)| dir.to_owned());
    let name = shown(&server.name, 100);
    if files.is_empty() {
        return Ok(Reply::embed(
            EmbedBuilder::new()
                .title(format!("Latest Log Files on {name}"))
                .description(format!(
                    "No log files found on server `{id}` in the last {hours} hours."
                ))
                .color(colour::INFO)
                .build(),
        ));
    }
    let entries: Vec<String> = files.iter().map(entry).collect();
    let mut fields = Vec::new();
    let (mut first, mut text) = (1, String::new());
    for (i, e) in entries.iter().enumerate() {
        if !text.is_empty() && text.chars().count() + e.chars().count() + 2 > 1024 {
            fields.push((format!("Files {first}-{i}"), std::mem::take(&mut text)));
            first = i + 1;
        }
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(e);
    }
    fields.push((format!("Files {first}-{}", entries.len()), text));
    let mut embeds = super::field_embeds(
        &format!("Latest Log Files on {name}"),
        colour::INFO,
        Some(format!(
            "Showing up to {count} log files from the last {hours} hours"
        )),
        fields,
    );
    if let Some(last) = embeds.pop() {
        let mut last = last;
        last.footer =
            Some(EmbedFooterBuilder::new(format!("Listed in `{}`", clip(&folder, 200))).build());
        embeds.push(last);
    }
    Ok(Reply::embeds(embeds))
}

/// One file as the earlier bot listed it.
fn entry(f: &FileEntry) -> String {
    let name = f.path.rsplit('/').next().unwrap_or(&f.path);
    // The time is shown in each reader's own time zone.
    format!(
        "📄 `{}` - {} - <t:{}:f>\nPath: `{}`",
        clip(name, 100),
        size(f.size),
        f.mtime_unix,
        clip(&f.path, 300)
    )
}

/// A size in B, KB or MB, as the earlier bot wrote it.
fn size(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_the_earlier_bot_wrote_them() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(2048), "2.0 KB");
        assert_eq!(size(3 * 1024 * 1024 + 512 * 1024), "3.5 MB");
    }
}
