//! The earlier bot's manual re-reads, kept by name: `/process_csv [server_id] [hours]`,
//! `/process_logs [server_id] [minutes]` and `/clear_csv_cache` (EARLIER-BOT.md §2.8).
//! The worker reads every server all the time, so each one is a "read now": the server's
//! poll is started at once (as `/historical_parse` does) and its outcome told in the
//! earlier bot's words. Every file not yet read is read, whatever `hours` or `minutes`
//! says: a cursor never skips lines, so there is nothing older to leave out.

use twilight_util::builder::embed::EmbedBuilder;

use tower_proto::v1::BackfillState;

use crate::access::Caller;
use crate::bot::Bot;
use crate::embeds::{clip, colour, shown};
use crate::options::Invocation;
use crate::reply::{CommandError, Reply};

pub async fn run(bot: &Bot, caller: &Caller, inv: &Invocation) -> Result<Reply, CommandError> {
    match inv.path.as_str() {
        "process_csv" => process(bot, caller, inv, Kind::Csv).await,
        "process_logs" => process(bot, caller, inv, Kind::Log).await,
        "clear_csv_cache" => Ok(Reply::embed(
            EmbedBuilder::new()
                .title("Cache Cleared")
                .description(
                    "The CSV parser cache has been cleared. (This bot keeps none: each poll \
                     reads only what is new since its cursor. /historical_parse reads every \
                     file not yet counted.)",
                )
                .color(colour::SUCCESS)
                .build(),
        )),
        other => Err(super::unknown(other)),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Csv,
    Log,
}

async fn process(
    bot: &Bot,
    caller: &Caller,
    inv: &Invocation,
    kind: Kind,
) -> Result<Reply, CommandError> {
    let servers =
        super::chosen_servers(bot, caller, inv, super::WhenOmitted::DefaultServer).await?;
    let window = match kind {
        Kind::Csv => format!("{} hours", inv.opt_int("hours")?.unwrap_or(24).max(1)),
        Kind::Log => format!("{} minutes", inv.opt_int("minutes")?.unwrap_or(15).max(1)),
    };
    let mut lines = Vec::with_capacity(servers.len());
    let (mut files, mut events, mut failed) = (0u64, 0u64, false);
    for server in &servers {
        let name = shown(&server.name, 80);
        // One server failing does not stop the others: its line says why.
        let progress = match super::sftp::read_now(bot, caller, &server.server).await {
            Ok(p) => p,
            Err(e) => {
                failed = true;
                lines.push(format!(
                    "• **{}**: Error - {}",
                    server.server,
                    clip(&e.to_string(), 300)
                ));
                continue;
            }
        };
        match progress {
            Some(p) if p.state == BackfillState::Done as i32 => match kind {
                Kind::Csv => {
                    files += u64::from(p.files_done);
                    events += p.lines;
                    lines.push(if p.files_done == 0 {
                        format!(
                            "• **{name}**: No new CSV files found for server `{}` in the last {window}.",
                            server.server
                        )
                    } else {
                        format!(
                            "• **{name}**: {} file(s), {} death events",
                            p.files_done, p.lines
                        )
                    });
                }
                Kind::Log => {
                    let log =
                        super::sftp::reading_status(bot, caller.guild_id, server.server.as_str())
                            .await
                            .ok()
                            .into_iter()
                            .flat_map(|r| r.servers)
                            .flat_map(|s| s.cursors)
                            .find(|c| c.kind == "log");
                    lines.push(match log {
                        Some(c) => {
                            files += 1;
                            format!(
                                "• **{name}**: `{}` read to byte {} of {}",
                                clip(&c.file, 200),
                                c.offset,
                                c.size
                            )
                        }
                        None => format!(
                            "• **{name}**: No new log files found for server `{}` in the last {window}.",
                            server.server
                        ),
                    });
                }
            },
            Some(p) => {
                failed = true;
                lines.push(format!(
                    "• **{}**: Error - {} (error id {})",
                    server.server,
                    clip(&p.error, 300),
                    p.error_id
                ));
            }
            None => {
                failed = true;
                lines.push(format!("• **{}**: no progress reported", server.server));
            }
        }
    }
    let (title, summary) = match (kind, files) {
        (Kind::Csv, 0) if !failed => ("No Files Found", "No new CSV files were found.".to_owned()),
        (Kind::Csv, _) => (
            "CSV Processing Complete",
            format!("Processed {files} file(s) with {events} death events."),
        ),
        (Kind::Log, 0) if !failed => ("No Files Found", "No server log was found.".to_owned()),
        (Kind::Log, _) => (
            "Log Processing Complete",
            format!("Processed {files} log file(s)."),
        ),
    };
    Ok(Reply::embed(
        EmbedBuilder::new()
            .title(title)
            .description(clip(&format!("{summary}\n\n{}", lines.join("\n")), 4096))
            .color(if failed {
                colour::WARNING
            } else {
                colour::SUCCESS
            })
            .build(),
    ))
}
