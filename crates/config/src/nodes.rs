//! Origin and edge nodes: `FERROCAST_NODE_ROLE`, `FERROCAST_NODE_SECRET`,
//! `FERROCAST_NODE_RTMP_URL`, `FERROCAST_NODE_HTTP_URL`, `FERROCAST_NODE_PULL_LINGER_SECS`.

use crate::{env_name, Layered, Secret};

/// What a node does with live streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeRole {
    /// Takes publishes from encoders (and relays streams other nodes hold): the default.
    Origin,
    /// Takes no publishes; only relays streams other nodes hold to its own viewers.
    Edge,
}

impl NodeRole {
    /// Its name in settings and in the node registry.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeRole::Origin => "origin",
            NodeRole::Edge => "edge",
        }
    }
}

/// How this node takes part in a deployment of several nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSettings {
    /// Origin (the default) or edge.
    pub role: NodeRole,
    /// The secret nodes authenticate their pulls with; `None`: derived from the master key,
    /// which every node of a deployment shares.
    pub secret: Option<Secret<String>>,
    /// How other nodes reach this node over RTMP (`rtmp://host:port`); `None`: from the RTMP
    /// address bound.
    pub rtmp_url: Option<String>,
    /// How other nodes reach this node over HTTP; `None`: from the HTTP address bound.
    pub http_url: Option<String>,
    /// Seconds a relayed stream's pull lasts after its last local viewer left.
    pub pull_linger_secs: u64,
}

/// The shortest node secret accepted (characters).
pub const MIN_NODE_SECRET: usize = 32;

impl Layered {
    pub(crate) fn nodes(&self, problems: &mut Vec<String>) -> NodeSettings {
        let role = match self.get("node_role").map(str::trim).unwrap_or("origin") {
            "origin" => NodeRole::Origin,
            "edge" => NodeRole::Edge,
            other => {
                problems.push(format!(
                    "{} must be `origin` or `edge`, not {other:?}",
                    env_name("node_role")
                ));
                NodeRole::Origin
            }
        };
        let secret = self.get("node_secret").map(|s| {
            if s.trim().len() < MIN_NODE_SECRET {
                problems.push(format!(
                    "{} must be at least {MIN_NODE_SECRET} characters (e.g. `openssl rand -hex 32`), the same on every node; or leave it unset to derive it from the master key",
                    env_name("node_secret")
                ));
            }
            Secret::new(s.trim().to_string())
        });
        let url = |key: &str, schemes: &[&str], problems: &mut Vec<String>| {
            let u = self.get(key).map(str::trim).filter(|u| !u.is_empty())?;
            if !schemes.iter().any(|s| u.starts_with(s)) {
                problems.push(format!(
                    "{} must start with {}",
                    env_name(key),
                    schemes.join(" or ")
                ));
            }
            Some(u.trim_end_matches('/').to_string())
        };
        let rtmp_url = url("node_rtmp_url", &["rtmp://"], problems);
        let http_url = url("node_http_url", &["http://", "https://"], problems);
        let pull_linger_secs = match self.get("node_pull_linger_secs") {
            None => 5,
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) if (1..=3600).contains(&n) => n,
                _ => {
                    problems.push(format!(
                        "{} must be a whole number of seconds from 1 to 3600",
                        env_name("node_pull_linger_secs")
                    ));
                    5
                }
            },
        };
        NodeSettings {
            role,
            secret,
            rtmp_url,
            http_url,
            pull_linger_secs,
        }
    }
}
