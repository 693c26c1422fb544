//! `/commands`: every command with what it does, from the registered schema.

use twilight_model::application::command::{Command, CommandOptionType};
use twilight_util::builder::embed::{EmbedBuilder, EmbedFieldBuilder};

use crate::embeds::{clip, colour};
use crate::reply::Reply;

pub fn commands(schema: &[Command]) -> Reply {
    let mut b = EmbedBuilder::new()
        .title("Commands")
        .color(colour::INFO)
        .description("Server and player options suggest values as you type. Admin commands need the Administrator permission or the bot admin role.");
    for c in schema.iter().take(25) {
        let subs: Vec<String> = c
            .options
            .iter()
            .filter(|o| o.kind == CommandOptionType::SubCommand)
            .map(|o| format!("`{}` — {}", o.name, o.description))
            .collect();
        let text = if subs.is_empty() {
            c.description.clone()
        } else {
            subs.join("\n")
        };
        b = b.field(EmbedFieldBuilder::new(
            format!("/{}", c.name),
            clip(&text, 1024),
        ));
    }
    Reply::embed(b.build())
}
