//! What a command answers ([`Reply`]) and how it fails ([`CommandError`]), shown to the
//! user as Discord messages. Every failure says what happened and what to do, with an
//! error id an admin can give to `/debug` (PRODUCT.md §8).

use twilight_model::channel::message::{Component, Embed, MessageFlags};
use twilight_model::http::interaction::InteractionResponseData;
use twilight_util::builder::embed::{EmbedBuilder, EmbedFooterBuilder};

use crate::embeds::{self, colour};

/// A command's answer.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    pub content: Option<String>,
    pub embeds: Vec<Embed>,
    pub components: Vec<Component>,
    /// Only the caller sees it.
    pub ephemeral: bool,
}

impl Reply {
    pub fn embed(embed: Embed) -> Self {
        Self {
            embeds: vec![embed],
            ..Self::default()
        }
    }

    /// An answer of several embeds (a long list); [`Reply::messages`] spreads them over as
    /// many messages as Discord's limits need.
    pub fn embeds(embeds: Vec<Embed>) -> Self {
        Self {
            embeds,
            ..Self::default()
        }
    }

    /// A short confirmation in the bot's colours.
    pub fn done(title: &str, description: impl Into<String>) -> Self {
        Self::embed(
            EmbedBuilder::new()
                .title(title)
                .description(description)
                .color(colour::SUCCESS)
                .build(),
        )
    }

    /// A step of a command still working ([`crate::progress::Progress`]); its title ends
    /// with "…".
    pub fn progress(title: &str, description: impl Into<String>) -> Self {
        Self::embed(
            EmbedBuilder::new()
                .title(title)
                .description(description)
                .color(colour::INFO)
                .build(),
        )
    }

    pub fn ephemeral(mut self) -> Self {
        self.ephemeral = true;
        self
    }

    pub fn with_components(mut self, components: Vec<Component>) -> Self {
        self.components = components;
        self
    }

    /// As interaction response data for one message, checked against Discord's limits.
    pub fn to_data(&self) -> Result<InteractionResponseData, CommandError> {
        let mut messages = self.messages()?;
        if messages.len() > 1 {
            return Err(CommandError::failed(
                "The answer did not fit in one Discord message",
                format!("{} messages needed", messages.len()),
            ));
        }
        Ok(messages.swap_remove(0))
    }

    /// As the messages Discord takes: each embed checked, then the embeds packed in order,
    /// at most 10 and 6,000 characters a message. The first message carries the text and
    /// the components; the others are sent as follow-ups. Never empty.
    pub fn messages(&self) -> Result<Vec<InteractionResponseData>, CommandError> {
        for embed in &self.embeds {
            embeds::validate(embed).map_err(|e| {
                CommandError::failed("The answer did not fit in a Discord message", e)
            })?;
        }
        let mut groups = embeds::message_groups(&self.embeds, |e| e);
        if groups.is_empty() {
            groups.push(&[]);
        }
        let flags = self.ephemeral.then_some(MessageFlags::EPHEMERAL);
        Ok(groups
            .into_iter()
            .enumerate()
            .map(|(i, embeds)| InteractionResponseData {
                content: if i == 0 { self.content.clone() } else { None },
                embeds: Some(embeds.to_vec()),
                components: Some(if i == 0 {
                    self.components.clone()
                } else {
                    Vec::new()
                }),
                flags,
                ..InteractionResponseData::default()
            })
            .collect())
    }
}

/// Why a command did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The request cannot be done as asked (bad option, unknown server, no data yet).
    #[error("{problem}")]
    Invalid { problem: String, fix: String },
    /// The caller may not do this (permissions or premium tier).
    #[error("{problem}")]
    Refused { problem: String, fix: String },
    /// Something on our side failed (database, worker, Discord).
    #[error("{what}: {cause}")]
    Failed { what: String, cause: String },
}

/// What the telemetry and the user see of a [`CommandError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandErrorKind {
    Invalid,
    Refused,
    Failed,
}

impl CommandErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invalid => "command.invalid",
            Self::Refused => "command.refused",
            Self::Failed => "command.failed",
        }
    }
}

impl CommandError {
    pub fn invalid(problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::Invalid {
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    pub fn refused(problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::Refused {
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    pub fn failed(what: impl Into<String>, cause: impl std::fmt::Display) -> Self {
        Self::Failed {
            what: what.into(),
            cause: cause.to_string(),
        }
    }

    pub fn kind(&self) -> CommandErrorKind {
        match self {
            Self::Invalid { .. } => CommandErrorKind::Invalid,
            Self::Refused { .. } => CommandErrorKind::Refused,
            Self::Failed { .. } => CommandErrorKind::Failed,
        }
    }

    /// The message the user sees. Internal causes stay in telemetry, not in Discord.
    pub fn to_reply(&self, error_id: &str) -> Reply {
        let (title, problem, fix) = match self {
            Self::Invalid { problem, fix } => ("Cannot do that", problem.as_str(), fix.as_str()),
            Self::Refused { problem, fix } => ("Not allowed", problem.as_str(), fix.as_str()),
            Self::Failed { what, .. } => (
                "Something went wrong",
                what.as_str(),
                "Try again in a minute. If it keeps failing, give an admin the error id below.",
            ),
        };
        let embed = EmbedBuilder::new()
            .title(title)
            .description(format!("{problem}\n\n**What to do:** {fix}"))
            .color(colour::ERROR)
            .footer(EmbedFooterBuilder::new(format!(
                "Error id {error_id} · admins: /debug {error_id}"
            )))
            .build();
        Reply::embed(embed).ephemeral()
    }
}

impl From<mongodb::error::Error> for CommandError {
    fn from(e: mongodb::error::Error) -> Self {
        Self::failed("The database did not answer", e)
    }
}

impl From<tonic::Status> for CommandError {
    fn from(s: tonic::Status) -> Self {
        match s.code() {
            tonic::Code::InvalidArgument
            | tonic::Code::NotFound
            | tonic::Code::FailedPrecondition => Self::invalid(
                s.message().to_owned(),
                "Check the server's settings with /setup list_servers.",
            ),
            tonic::Code::ResourceExhausted => Self::refused(
                s.message().to_owned(),
                "Wait for the running work to finish, or upgrade your premium tier (/premium tiers).",
            ),
            _ => Self::failed("The SFTP worker could not do it", s.message()),
        }
    }
}

impl From<tower_store::game_servers::GameServerError> for CommandError {
    fn from(e: tower_store::game_servers::GameServerError) -> Self {
        use tower_store::game_servers::GameServerError as E;
        match e {
            E::NotFound(id) => Self::invalid(
                format!("This server has no game server with id `{id}`."),
                "Pick one from the list (/setup list_servers).",
            ),
            E::Exists(id) => Self::invalid(
                format!("This server already has a game server with id `{id}`."),
                "Use another server_id, or remove the old one first (/setup removeserver).",
            ),
            E::NoKey => Self::failed(
                "Credentials cannot be stored: the bot has no secret key configured",
                "no secret key",
            ),
            other => Self::failed("Could not read or store the game server", other),
        }
    }
}
