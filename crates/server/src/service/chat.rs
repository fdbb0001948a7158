//! Chat: one way in for every message — typed on ferrocast (Socket.IO) or relayed from a
//! platform by a connector — through the source's rules and moderation to storage and to every
//! node's rooms.

use super::clock::{rfc3339, SharedClock};
use super::events::{ChatMessageOut, Fanout, RealtimeEvent};
use crate::ratelimit::RateLimiter;
use ferrocast_db::chat::{ChatMessageRecord, NewChatMessage};
use ferrocast_db::sources::SourceRecord;
use ferrocast_db::{Db, DbError};
use ferrocast_domain::account::Role;
use ferrocast_domain::chat::{ChatRefusal, ChatRules};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// Messages a user may send in a burst ([`CHAT_PERIOD`] refills it).
pub const CHAT_BURST: u32 = 10;
/// The period over which [`CHAT_BURST`] messages are allowed.
pub const CHAT_PERIOD: Duration = Duration::from_secs(10);

/// A ferrocast user writing in a source's chat.
#[derive(Debug, Clone, Copy)]
pub struct Member<'a> {
    /// User id.
    pub id: i64,
    /// User UUID (shown as the author's id).
    pub uuid: &'a str,
    /// Display name.
    pub name: &'a str,
    /// Role.
    pub role: Role,
}

/// A message to post.
#[derive(Debug)]
pub enum Post<'a> {
    /// Typed on ferrocast by `member` (the text already cleaned and the sender admitted, see
    /// [`Chat::admit`]).
    Native {
        /// The source whose chat it is.
        source: &'a SourceRecord,
        /// Who wrote it.
        member: Member<'a>,
        /// The text.
        text: &'a str,
    },
    /// Relayed from a platform's chat by connector `connector_id`.
    Platform {
        /// The source whose chat it is.
        source_id: i64,
        /// The connector relaying it.
        connector_id: i64,
        /// The message as the platform gave it.
        message: &'a ferrocast_chat::ChatMessage,
    },
}

/// Why a message was not posted. The texts are what the sender is told.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// Sent faster than [`CHAT_BURST`] per [`CHAT_PERIOD`]: wait this many seconds.
    #[error("you are sending messages too fast; wait {0} s")]
    TooFast(u64),
    /// Refused by a ban or the source's rules.
    #[error("{0}")]
    Refused(#[from] ChatRefusal),
    /// Storage failed while checking the rules.
    #[error("temporarily unavailable; try again ({0})")]
    Unavailable(String),
    /// The same platform message was posted already.
    #[error("duplicate message")]
    Duplicate,
    /// Storage failed while storing it.
    #[error("the message could not be stored; try again")]
    NotStored,
}

impl From<DbError> for PostError {
    fn from(e: DbError) -> Self {
        tracing::error!(error = %e, "checking chat rules failed");
        Self::Unavailable("storage".into())
    }
}

/// The chat service.
pub struct Chat {
    db: Db,
    fanout: Arc<dyn Fanout>,
    clock: SharedClock,
    /// Messages per user.
    limiter: RateLimiter,
}

impl Chat {
    /// The service over storage and the realtime fan-out.
    pub fn new(db: Db, fanout: Arc<dyn Fanout>, clock: SharedClock) -> Self {
        Self {
            db,
            fanout,
            clock,
            limiter: RateLimiter::new(CHAT_BURST, CHAT_PERIOD),
        }
    }

    /// Charges one message to `user_id`'s rate.
    pub fn admit(&self, user_id: i64) -> Result<(), PostError> {
        self.limiter
            .check(&user_id.to_string())
            .map_err(PostError::TooFast)
    }

    /// Whether `user` may moderate the chat of `source`: its owner, its moderators, and staff
    /// (site moderators and administrators).
    pub async fn can_moderate(
        &self,
        user_id: i64,
        role: Role,
        source: &SourceRecord,
    ) -> Result<bool, DbError> {
        Ok(source.user_id == user_id
            || role.is_staff()
            || self.db.is_chat_moderator(source.id, user_id).await?)
    }

    /// A source's chat rules as the domain checks them.
    pub async fn rules(&self, source_id: i64) -> Result<ChatRules, DbError> {
        let s = self.db.chat_settings(source_id).await?;
        let words: Vec<String> = serde_json::from_str(&s.blocked_words).unwrap_or_default();
        Ok(ChatRules {
            slow_mode_seconds: s.slow_mode_seconds,
            blocked_words: words,
            links_allowed: s.links_allowed,
        })
    }

    /// Why a message may not be posted, if it may not: bans and timeouts (the owner and
    /// administrators are exempt), then the source's rules (its moderators are exempt too).
    /// `Ok(true)`: the author moderates this chat.
    async fn moderate(
        &self,
        member: &Member<'_>,
        source: &SourceRecord,
        text: &str,
    ) -> Result<bool, PostError> {
        let now = self.clock.now_ms();
        if source.user_id != member.id && member.role != Role::Admin {
            if let Some(ban) = self.db.active_chat_ban(source.id, member.id, now).await? {
                return Err(ChatRefusal::Banned(ban.expires_at).into());
            }
        }
        if self.can_moderate(member.id, member.role, source).await? {
            return Ok(true);
        }
        let rules = self.rules(source.id).await?;
        let last = if rules.slow_mode_seconds > 0 {
            self.db.last_chat_message_at(source.id, member.id).await?
        } else {
            None
        };
        rules.check(text, last, now)?;
        Ok(false)
    }

    /// Posts a message: checks it (native messages against bans and rules), stores it, and
    /// sends it to the source's chat room on every node. A creator's own words also go to
    /// every connected platform's chat.
    pub async fn post(&self, post: Post<'_>) -> Result<ChatMessageOut, PostError> {
        let platform_id;
        let author_name;
        let text;
        let metadata;
        let (new, echo) = match post {
            Post::Native {
                source,
                member,
                text: typed,
            } => {
                let moderator = self.moderate(&member, source, typed).await?;
                let mut badges = Vec::new();
                if source.user_id == member.id {
                    badges.push("broadcaster");
                } else if moderator {
                    badges.push("moderator");
                }
                if member.role == Role::Admin {
                    badges.push("admin");
                }
                // A member of the channel (a membership in its paid period) wears the badge.
                if source.user_id != member.id {
                    let now = self.clock.now_ms();
                    if let Some(s) = self.db.standing(member.id, source.user_id).await? {
                        if (s.active || s.canceled) && now < s.period_end {
                            badges.push("member");
                        }
                    }
                }
                metadata = json!({ "badges": badges, "emotes": [] }).to_string();
                platform_id = uuid::Uuid::new_v4().to_string();
                let new = NewChatMessage {
                    source_id: source.id,
                    connector_id: None,
                    platform: "native",
                    platform_message_id: &platform_id,
                    user_id: Some(member.id),
                    author_name: member.name,
                    author_platform_id: member.uuid,
                    message_text: typed,
                    message_type: "message",
                    metadata: &metadata,
                };
                (new, source.user_id == member.id)
            }
            Post::Platform {
                source_id,
                connector_id,
                message: m,
            } => {
                metadata = json!({ "badges": m.badges, "emotes": m.emotes }).to_string();
                // Platform names and text are shown here as native ones are: without bidi
                // overrides or invisible characters.
                author_name = ferrocast_domain::text::displayable(&m.author_name);
                text = ferrocast_domain::text::displayable(&m.text);
                let new = NewChatMessage {
                    source_id,
                    connector_id: Some(connector_id),
                    platform: m.platform,
                    platform_message_id: &m.id,
                    user_id: None,
                    author_name: &author_name,
                    author_platform_id: &m.author_id,
                    message_text: &text,
                    message_type: m.kind,
                    metadata: &metadata,
                };
                (new, false)
            }
        };
        match self.db.insert_chat_message(&new, self.clock.now_ms()).await {
            Ok(Some(record)) => {
                let out = message_out(&record);
                self.fanout.publish(RealtimeEvent::ChatMessage(out.clone()));
                if echo {
                    self.fanout.publish(RealtimeEvent::ConnectorSend {
                        source_id: new.source_id,
                        text: new.message_text.to_string(),
                    });
                }
                Ok(out)
            }
            Ok(None) => Err(PostError::Duplicate),
            Err(e) => {
                tracing::error!(error = %e, connector = ?new.connector_id, "storing a chat message failed");
                Err(PostError::NotStored)
            }
        }
    }

    /// Posts a message of ferrocast's own (`system`: a paid tip, say) in a source's chat and
    /// sends it to the room on every node, once: `key` names it, and posting the same key
    /// again is [`PostError::Duplicate`]. Not moderated here: its caller moderated what it
    /// quotes.
    pub async fn post_system(
        &self,
        source_id: i64,
        key: &str,
        author_name: &str,
        text: &str,
        metadata: serde_json::Value,
    ) -> Result<ChatMessageOut, PostError> {
        let metadata = metadata.to_string();
        let new = NewChatMessage {
            source_id,
            connector_id: None,
            platform: "native",
            platform_message_id: key,
            user_id: None,
            author_name,
            author_platform_id: "",
            message_text: text,
            message_type: "system",
            metadata: &metadata,
        };
        match self.db.insert_chat_message(&new, self.clock.now_ms()).await {
            Ok(Some(record)) => {
                let out = message_out(&record);
                self.fanout.publish(RealtimeEvent::ChatMessage(out.clone()));
                Ok(out)
            }
            Ok(None) => Err(PostError::Duplicate),
            Err(e) => {
                tracing::error!(error = %e, source_id, "storing a system chat message failed");
                Err(PostError::NotStored)
            }
        }
    }

    /// Hides a message its platform's moderators deleted; tells the room.
    pub async fn hide_platform_message(
        &self,
        source_id: i64,
        platform: &str,
        platform_id: &str,
    ) -> Result<(), DbError> {
        if let Some(id) = self
            .db
            .hide_platform_chat_message(source_id, platform, platform_id, self.clock.now_ms())
            .await?
        {
            self.fanout
                .publish(RealtimeEvent::MessageDeleted { source_id, id });
        }
        Ok(())
    }
}

/// A stored message as clients see it.
pub fn message_out(r: &ChatMessageRecord) -> ChatMessageOut {
    ChatMessageOut {
        id: r.id,
        source_id: r.source_id,
        author_name: r.author_name.clone(),
        author_id: r.author_platform_id.clone(),
        message_text: r.message_text.clone(),
        platform: r.platform.clone(),
        message_type: r.message_type.clone(),
        metadata: serde_json::from_str(&r.metadata).unwrap_or_else(|_| json!({})),
        created_at: rfc3339(r.created_at),
    }
}
