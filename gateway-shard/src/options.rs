//! A slash command's name path (`stats player`) and its options, read with clear errors
//! for anything missing or of the wrong type (Discord validates, but a user's client, an
//! old command version or a hostile payload may not match the schema).

use twilight_model::application::interaction::application_command::{
    CommandData, CommandDataOption, CommandOptionValue,
};

use tower_store::ids::ServerId;

use crate::reply::CommandError;

/// A command as invoked: `path` is the command and subcommand names, space-separated.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub path: String,
    pub options: Vec<CommandDataOption>,
    /// The interaction's id (0 where there is none, as for autocomplete): unique per
    /// command run, so what a command changes is keyed by it and never made twice.
    pub interaction_id: u64,
    /// The member a user context-menu command ("View Rivalries") was used on.
    pub target_user: Option<u64>,
    /// The users named in the options that Discord resolved as bots.
    pub bots: Vec<u64>,
}

impl Invocation {
    pub fn from_data(data: &CommandData) -> Self {
        let mut path = data.name.clone();
        let mut options = data.options.clone();
        // Descend through subcommand groups and subcommands.
        while let [only] = options.as_slice() {
            let inner = match &only.value {
                CommandOptionValue::SubCommand(o) | CommandOptionValue::SubCommandGroup(o) => {
                    o.clone()
                }
                _ => break,
            };
            path.push(' ');
            path.push_str(&only.name);
            options = inner;
        }
        let target_user = match data.kind {
            twilight_model::application::command::CommandType::User => {
                data.target_id.map(|id| id.get())
            }
            _ => None,
        };
        let bots = data.resolved.as_ref().map_or_else(Vec::new, |resolved| {
            resolved
                .users
                .values()
                .filter(|user| user.bot)
                .map(|user| user.id.get())
                .collect()
        });
        Self {
            path,
            options,
            interaction_id: 0,
            target_user,
            bots,
        }
    }

    /// Whether Discord resolved this user as a bot (a bot cannot use what it is given).
    pub fn is_bot(&self, user_id: u64) -> bool {
        self.bots.contains(&user_id)
    }

    fn get(&self, name: &str) -> Option<&CommandOptionValue> {
        self.options
            .iter()
            .find(|o| o.name == name)
            .map(|o| &o.value)
    }

    fn missing(name: &str) -> CommandError {
        CommandError::invalid(
            format!("The option `{name}` is missing."),
            "Fill in every required option of the command.",
        )
    }

    fn wrong(name: &str, expected: &str) -> CommandError {
        CommandError::invalid(
            format!("The option `{name}` should be {expected}."),
            "Run the command again from Discord's command picker.",
        )
    }

    pub fn opt_str(&self, name: &str) -> Result<Option<&str>, CommandError> {
        match self.get(name) {
            None => Ok(None),
            Some(CommandOptionValue::String(s)) => Ok(Some(s.as_str())),
            Some(CommandOptionValue::Focused(s, _)) => Ok(Some(s.as_str())),
            Some(_) => Err(Self::wrong(name, "text")),
        }
    }

    pub fn str(&self, name: &str) -> Result<&str, CommandError> {
        self.opt_str(name)?.ok_or_else(|| Self::missing(name))
    }

    pub fn opt_int(&self, name: &str) -> Result<Option<i64>, CommandError> {
        match self.get(name) {
            None => Ok(None),
            Some(CommandOptionValue::Integer(n)) => Ok(Some(*n)),
            Some(_) => Err(Self::wrong(name, "a whole number")),
        }
    }

    pub fn int(&self, name: &str) -> Result<i64, CommandError> {
        self.opt_int(name)?.ok_or_else(|| Self::missing(name))
    }

    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, CommandError> {
        match self.get(name) {
            None => Ok(None),
            Some(CommandOptionValue::Boolean(b)) => Ok(Some(*b)),
            Some(_) => Err(Self::wrong(name, "true or false")),
        }
    }

    pub fn opt_channel(&self, name: &str) -> Result<Option<u64>, CommandError> {
        match self.get(name) {
            None => Ok(None),
            Some(CommandOptionValue::Channel(id)) => Ok(Some(id.get())),
            Some(_) => Err(Self::wrong(name, "a channel")),
        }
    }

    pub fn opt_user(&self, name: &str) -> Result<Option<u64>, CommandError> {
        match self.get(name) {
            None => Ok(None),
            Some(CommandOptionValue::User(id)) => Ok(Some(id.get())),
            Some(_) => Err(Self::wrong(name, "a member")),
        }
    }

    pub fn user(&self, name: &str) -> Result<u64, CommandError> {
        self.opt_user(name)?.ok_or_else(|| Self::missing(name))
    }

    pub fn role(&self, name: &str) -> Result<u64, CommandError> {
        match self.get(name) {
            None => Err(Self::missing(name)),
            Some(CommandOptionValue::Role(id)) => Ok(id.get()),
            Some(_) => Err(Self::wrong(name, "a role")),
        }
    }

    /// A game server id option, checked for shape (whether this guild has it is the
    /// store's answer).
    pub fn server_id(&self, name: &str) -> Result<ServerId, CommandError> {
        let raw = self.str(name)?;
        ServerId::parse(raw.trim()).map_err(|why| {
            CommandError::invalid(
                format!(
                    "`{}` is not a server id: {why}",
                    crate::embeds::clip(raw, 40)
                ),
                "Pick a server from the list Discord suggests.",
            )
        })
    }

    pub fn opt_server_id(&self, name: &str) -> Result<Option<ServerId>, CommandError> {
        match self.opt_str(name)? {
            None => Ok(None),
            Some(_) => self.server_id(name).map(Some),
        }
    }

    /// The option the user is typing in (autocomplete), and what they typed so far.
    pub fn focused(&self) -> Option<(&str, &str)> {
        self.options.iter().find_map(|o| match &o.value {
            CommandOptionValue::Focused(text, _) => Some((o.name.as_str(), text.as_str())),
            _ => None,
        })
    }
}
