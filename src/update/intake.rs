//! UPDATE requests taken from the listeners: read, judged by everything
//! that does not depend on the zone's data (RFC 2136 §3.1 zone section,
//! TSIG, the `allow_update` rules, §3.4.1 prescan), and queued for the
//! zone's Update event, which checks the prerequisites and applies them.
//! Runs on the listener's thread: it never waits for a disk.

use super::message::{class, UpdateMessage};
use super::plan;
use super::response;
use crate::query::{QueryStats, UpdateListener};
use crate::replication::dynamic::{UpdateAsk, UpdateReply};
use crate::replication::registry::Registry;
use crate::replication::{Managed, ManagedZone};
use crate::tsig::{self, Keys, RequestAuth};
use crate::wire::rcode;
use std::net::SocketAddr;
use std::sync::Arc;

/// Takes UPDATE requests for the server's zones.
pub struct UpdateIntake {
    zones: Arc<Registry>,
    keys: Arc<Keys>,
    stats: Arc<QueryStats>,
}

impl UpdateIntake {
    /// `stats` counts the answers (`/metrics`).
    pub fn new(zones: Arc<Registry>, keys: Arc<Keys>, stats: Arc<QueryStats>) -> UpdateIntake {
        UpdateIntake { zones, keys, stats }
    }

    /// The request judged: queued for its zone's Update event, or the
    /// answer to send now (none: send nothing).
    fn judge(&self, request: &[u8], peer: SocketAddr) -> Result<Judged, Option<Vec<u8>>> {
        let answer_now = |code: u16, why: &str| {
            tracing::info!(%peer, rcode = rcode::name(code), "UPDATE: {why}");
            response::answer(request, code, None)
        };
        let message = match UpdateMessage::parse(request) {
            Ok(m) => m,
            Err(e) => return Err(answer_now(rcode::FORMERR, &e.to_string())),
        };
        let zone_text = crate::name::display(&message.zone);
        let zone = match self.zones.load().get(&message.zone) {
            Some(Managed::Primary(z)) if message.zone_class == class::IN => z.clone(),
            Some(Managed::Secondary(_)) => {
                return Err(answer_now(
                    rcode::REFUSED,
                    &format!("{zone_text}: we are a secondary for it and do not forward UPDATE; send it to the primary"),
                ))
            }
            _ => return Err(answer_now(rcode::NOTAUTH, &format!("{zone_text}: not a zone we serve"))),
        };
        let mut signer = match tsig::check_request(&self.keys, request) {
            RequestAuth::Signed(s) => s,
            RequestAuth::Unsigned => {
                return Err(answer_now(
                    rcode::REFUSED,
                    &format!(
                        "{zone_text}: not signed; UPDATE needs a TSIG key of an allow_update rule"
                    ),
                ))
            }
            RequestAuth::Rejected(failure) => {
                tracing::info!(%peer, zone = %zone_text, tsig = failure.rcode_name(), "UPDATE: TSIG check failed");
                return Err(failure.response().map(<[u8]>::to_vec));
            }
        };
        let key = signer.key_name().to_string();
        let mut refuse = |code: u16, why: String| {
            tracing::info!(%peer, zone = %zone_text, key, rcode = rcode::name(code), "UPDATE: {why}");
            response::answer(request, code, Some(&mut signer))
        };
        let policy = zone.update_policy();
        if policy.is_empty() {
            return Err(refuse(
                rcode::REFUSED,
                "the zone has no allow_update rule".into(),
            ));
        }
        if let Err(f) = plan::prescan(&message.zone, &message.updates) {
            return Err(refuse(f.rcode, f.reason));
        }
        if let Some(rr) = policy.first_denied(peer.ip(), &key, &message.updates) {
            let why = format!(
                "no allow_update rule lets key {key:?} from {} change {} {}",
                peer.ip(),
                crate::name::display(&rr.owner),
                crate::rdata::rtype_to_presentation(rr.rtype)
            );
            return Err(refuse(rcode::REFUSED, why));
        }
        Ok(Judged {
            zone,
            message,
            signer,
            key,
        })
    }
}

/// A request that may go to its zone.
struct Judged {
    zone: Arc<ManagedZone>,
    message: UpdateMessage,
    signer: tsig::SignedRequest,
    key: String,
}

impl UpdateListener for UpdateIntake {
    fn update(&self, request: &[u8], peer: SocketAddr, reply: UpdateReply) {
        let stats = self.stats.clone();
        let counted: UpdateReply = Box::new(move |out: Vec<u8>| {
            stats.count_update(out.get(3).map_or(0, |b| u16::from(b & 0x0f)));
            reply(out);
        });
        match self.judge(request, peer) {
            Ok(j) => j.zone.ask_update(UpdateAsk {
                request: request.to_vec(),
                message: j.message,
                signer: Some(j.signer),
                peer,
                key: j.key,
                reply: counted,
            }),
            Err(Some(out)) => counted(out),
            Err(None) => {}
        }
    }
}
