//! The HTTP application: routes, the OpenAPI document built from the same list, and the
//! middleware every request passes through.

use crate::access::declare;
use crate::error::ApiError;
use crate::extract::too_large;
use crate::routes::dmca;
use crate::routes::privacy;
use crate::routes::{
    admin, analytics, auth, browse, chat, connectors, engagement, events, health, memberships,
    notifications, overlay, payments, playback, profiles, purchases, schedule, search, shorts,
    sources, streams, subscriptions, tips, uploads, videos, vod, watch,
};
use crate::routes::{
    campaign_work, campaigns, earnings, hangouts, nodes, payouts, posts, radio, safety, telegram,
    whep,
};
use crate::state::AppState;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::time::{Duration, Instant};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tower_http::LatencyUnit;
use tracing::Level;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

/// Longest time a request may take before it is answered 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(OpenApi)]
#[openapi(
    info(title = "ferrocast API", description = "Live streaming and creator platform. Errors are `{\"error\",\"details\",\"code\"}`."),
    modifiers(&BearerAuth),
    tags((name = "auth", description = "Accounts, sessions, two-factor, API keys"), (name = "sources", description = "Stream sources: stream keys and playback ids"), (name = "streams", description = "Live state, destinations' pushes, usage, events; administrators' view"), (name = "subscriptions", description = "Plans, subscription and limits"), (name = "chat", description = "Chat history; live chat is Socket.IO at /socket.io/"), (name = "playback", description = "Public playback by playback id: HLS and HTTP-FLV; videos' objects at /vod"), (name = "videos", description = "Recordings, uploads (tus 1.0 at /api/uploads) and their library"), (name = "profiles", description = "Profiles (handle, bio, links, avatar, banner) and public channels"), (name = "notifications", description = "In-app notifications, preferences, email unsubscribe, Web Push subscriptions"), (name = "operations", description = "Health and metrics"), (name = "purchases", description = "Viewers paying creators: tips, memberships and pay-per-view through the gateways"), (name = "tips", description = "Tips, funding goals and the OBS overlays"), (name = "memberships", description = "Membership tiers, memberships, and who may watch videos and streams"), (name = "audit", description = "The tamper-evident audit log: entries, signed checkpoints, inclusion and consistency proofs"), (name = "safety", description = "Reports, the moderation queue, strikes and appeals"), (name = "privacy", description = "Your data: its export and deleting your account"), (name = "dmca", description = "Copyright notices (DMCA): notices, counter-notices, cases and evidence"), (name = "campaigns", description = "Brands, their members and campaigns; creators' applications"), (name = "telegram", description = "The Telegram bot: its webhook, and the channel a creator connects"), (name = "posts", description = "Social posts: text and pictures on a channel, the home feed, likes and comments"))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An access token from /api/auth/login, or an API key (fck_…)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "stream_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A source's stream key (sk_…): WHIP publishing"))
                    .build(),
            ),
        );
    }
}

/// Every API route with its OpenAPI annotation and the access it declares: the router, the
/// spec and the access checks come from this one list ([`crate::access`]).
pub fn api_router() -> OpenApiRouter<AppState> {
    // In groups, each in a function of its own: one chain of every route would need one stack
    // frame for all of its temporaries, which overflows a debug build's 2 MiB thread stack.
    let r = OpenApiRouter::with_openapi(ApiDoc::openapi());
    let r = api_routes_1(r);
    let r = api_routes_2(r);
    let r = api_routes_3(r);
    let r = api_routes_4(r);
    let r = api_routes_5(r);
    let r = api_routes_6(r);
    let r = api_routes_7(r);
    let r = api_routes_8(r);
    api_routes_9(r)
}

#[inline(never)]
fn api_routes_1(r: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    #[allow(unused_imports)]
    use crate::access::Access::{Probe, Public, Scope as Key, Session, StreamKey};
    #[allow(unused_imports)]
    use ferrocast_domain::account::Scope::{
        Admin, BillingWrite, ChatWrite, ProfileRead, SourcesRead, SourcesWrite, StreamsRead,
        StreamsWrite,
    };
    r.routes(declare(Public, routes!(health::health)))
        .routes(declare(Public, routes!(health::ready)))
        // The metrics handler checks FERROCAST_METRICS_TOKEN (or a loopback client) itself.
        .routes(declare(Public, routes!(health::metrics)))
        .routes(declare(Public, routes!(auth::register)))
        .routes(declare(Public, routes!(auth::login)))
        .routes(declare(Public, routes!(auth::telegram_login)))
        .routes(declare(Public, routes!(auth::telegram_webapp_login)))
        .routes(declare(Public, routes!(telegram::webhook)))
        .routes(declare(
            Key(ProfileRead),
            routes!(telegram::telegram_status),
        ))
        .routes(declare(
            Session,
            routes!(telegram::connect_chat, telegram::disconnect_chat),
        ))
        .routes(declare(Public, routes!(auth::login_2fa)))
        .routes(declare(Public, routes!(auth::refresh)))
        .routes(declare(Session, routes!(auth::logout)))
        .routes(declare(Key(ProfileRead), routes!(auth::me)))
        .routes(declare(Public, routes!(auth::verify_email)))
        .routes(declare(Session, routes!(auth::resend_verification)))
        .routes(declare(Public, routes!(auth::forgot_password)))
        .routes(declare(Public, routes!(auth::reset_password)))
        .routes(declare(Session, routes!(auth::change_password)))
        .routes(declare(Session, routes!(auth::totp_setup)))
        .routes(declare(Session, routes!(auth::totp_enable)))
        .routes(declare(Session, routes!(auth::totp_disable)))
        .routes(declare(Session, routes!(auth::create_api_key)))
        .routes(declare(Key(ProfileRead), routes!(auth::list_api_keys)))
        .routes(declare(Session, routes!(auth::revoke_api_key)))
        .routes(declare(Probe(ProfileRead), routes!(auth::verify)))
        .routes(declare(Key(SourcesRead), routes!(auth::stream_key)))
        .routes(declare(Public, routes!(auth::providers)))
        .routes(declare(Public, routes!(auth::google_start)))
        .routes(declare(Public, routes!(auth::twitch_start)))
        // The provider proves the browser's return by the single-use state.
        .routes(declare(Public, routes!(auth::google_callback)))
        .routes(declare(Public, routes!(auth::twitch_callback)))
        .routes(declare(Public, routes!(auth::oauth_exchange)))
        .routes(declare(Key(ProfileRead), routes!(auth::list_identities)))
        .routes(declare(Session, routes!(auth::link_identity)))
}

#[inline(never)]
fn api_routes_2(r: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    #[allow(unused_imports)]
    use crate::access::Access::{Probe, Public, Scope as Key, Session, StreamKey};
    #[allow(unused_imports)]
    use ferrocast_domain::account::Scope::{
        Admin, BillingWrite, ChatWrite, ProfileRead, SourcesRead, SourcesWrite, StreamsRead,
        StreamsWrite,
    };
    r.routes(declare(Session, routes!(auth::unlink_identity)))
        .routes(declare(Key(SourcesWrite), routes!(sources::create_source)))
        .routes(declare(Key(SourcesRead), routes!(sources::list_sources)))
        .routes(declare(Key(SourcesWrite), routes!(sources::update_source)))
        .routes(declare(
            Key(SourcesWrite),
            routes!(sources::update_metadata),
        ))
        .routes(declare(Key(SourcesWrite), routes!(sources::delete_source)))
        .routes(declare(
            Key(SourcesWrite),
            routes!(sources::upload_slate_picture, sources::delete_slate_picture),
        ))
        .routes(declare(Key(SourcesWrite), routes!(sources::rotate_key)))
        .routes(declare(
            Key(SourcesRead),
            routes!(sources::list_destinations),
        ))
        .routes(declare(
            Key(SourcesWrite),
            routes!(sources::add_destination),
        ))
        .routes(declare(
            Key(SourcesWrite),
            routes!(sources::update_destination),
        ))
        .routes(declare(
            Key(SourcesWrite),
            routes!(sources::delete_destination),
        ))
        .routes(declare(
            Key(StreamsWrite),
            routes!(sources::retry_destination),
        ))
        .routes(declare(Key(StreamsRead), routes!(streams::stream_stats)))
        .routes(declare(Key(StreamsRead), routes!(streams::info)))
        .routes(declare(
            Key(StreamsRead),
            routes!(analytics::list_broadcasts),
        ))
        .routes(declare(Key(StreamsRead), routes!(analytics::get_broadcast)))
        .routes(declare(
            Key(StreamsRead),
            routes!(analytics::channel_totals),
        ))
        .routes(declare(Key(Admin), routes!(analytics::site_totals)))
        .routes(declare(Key(StreamsRead), routes!(streams::forwarding)))
        .routes(declare(
            Key(StreamsRead),
            routes!(streams::forwarding_by_source),
        ))
        .routes(declare(Key(StreamsWrite), routes!(streams::go_live)))
        .routes(declare(Key(StreamsWrite), routes!(streams::end)))
        .routes(declare(Key(Admin), routes!(streams::active)))
        .routes(declare(Public, routes!(subscriptions::list_plans)))
        .routes(declare(
            Key(ProfileRead),
            routes!(subscriptions::my_subscription),
        ))
        .routes(declare(
            Key(ProfileRead),
            routes!(subscriptions::check_limits),
        ))
        .routes(declare(Key(StreamsRead), routes!(events::events)))
        .routes(declare(Public, routes!(chat::messages)))
        .routes(declare(Key(ChatWrite), routes!(chat::delete_message)))
        .routes(declare(Key(ChatWrite), routes!(chat::get_settings)))
        .routes(declare(Key(ChatWrite), routes!(chat::put_settings)))
        .routes(declare(Key(ChatWrite), routes!(chat::ban)))
        .routes(declare(Key(ChatWrite), routes!(chat::list_bans)))
        .routes(declare(Key(ChatWrite), routes!(chat::unban)))
}

#[inline(never)]
fn api_routes_3(r: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    #[allow(unused_imports)]
    use crate::access::Access::{Probe, Public, Scope as Key, Session, StreamKey};
    #[allow(unused_imports)]
    use ferrocast_domain::account::Scope::{
        Admin, BillingWrite, ChatWrite, ProfileRead, SourcesRead, SourcesWrite, StreamsRead,
        StreamsWrite,
    };
    r.routes(declare(Key(ChatWrite), routes!(chat::list_moderators)))
        .routes(declare(Key(ChatWrite), routes!(chat::add_moderator)))
        .routes(declare(Key(ChatWrite), routes!(chat::remove_moderator)))
        .routes(declare(Key(ChatWrite), routes!(chat::moderation_log)))
        .routes(declare(Key(SourcesRead), routes!(connectors::list)))
        .routes(declare(Key(SourcesWrite), routes!(connectors::remove)))
        .routes(declare(Key(SourcesWrite), routes!(connectors::create)))
        .routes(declare(Session, routes!(connectors::consent)))
        .routes(declare(
            Key(BillingWrite),
            routes!(payments::razorpay::razorpay_create_order),
        ))
        .routes(declare(
            Key(BillingWrite),
            routes!(payments::razorpay::razorpay_verify),
        ))
        // Gateways prove themselves by their signatures.
        .routes(declare(
            Public,
            routes!(payments::razorpay::razorpay_webhook),
        ))
        .routes(declare(
            Key(BillingWrite),
            routes!(payments::stripe::stripe_checkout),
        ))
        .routes(declare(
            Key(BillingWrite),
            routes!(payments::stripe::stripe_portal),
        ))
        .routes(declare(Public, routes!(payments::stripe::stripe_webhook)))
        .routes(declare(
            Key(BillingWrite),
            routes!(payments::epayco::epayco_create_order),
        ))
        .routes(declare(
            Public,
            routes!(payments::epayco::epayco_confirmation),
        ))
        .routes(declare(
            Key(BillingWrite),
            routes!(payments::epayco::epayco_checkout),
        ))
        .routes(declare(
            Key(ProfileRead),
            routes!(payments::epayco::epayco_outcome),
        ))
        .routes(declare(Key(ProfileRead), routes!(payments::history)))
        .routes(declare(Key(BillingWrite), routes!(payments::cancel)))
        .routes(declare(Key(BillingWrite), routes!(payments::resume)))
        .routes(declare(Key(ProfileRead), routes!(payments::receipt)))
        .routes(declare(
            Key(ProfileRead),
            routes!(payments::options::billing_options),
        ))
        .routes(declare(
            Key(BillingWrite),
            routes!(payments::options::set_currency),
        ))
        // Razorpay's hosted Checkout posts the buyer's browser back here, signed.
        .routes(declare(
            Public,
            routes!(payments::razorpay::razorpay_callback),
        ))
        .routes(declare(Key(BillingWrite), routes!(purchases::start)))
        .routes(declare(Key(ProfileRead), routes!(purchases::get_one)))
        .routes(declare(Key(Admin), routes!(admin::subscriptions)))
        .routes(declare(Key(Admin), routes!(admin::stats)))
        .routes(declare(Public, routes!(admin::site)))
        .routes(declare(Key(Admin), routes!(admin::get_settings)))
        .routes(declare(Key(Admin), routes!(admin::put_settings)))
        .routes(declare(Key(Admin), routes!(admin::users)))
        .routes(declare(Key(Admin), routes!(admin::sources)))
        .routes(declare(Key(Admin), routes!(admin::daily)))
}

#[inline(never)]
fn api_routes_4(r: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    #[allow(unused_imports)]
    use crate::access::Access::{Probe, Public, Scope as Key, Session, StreamKey};
    #[allow(unused_imports)]
    use ferrocast_domain::account::Scope::{
        Admin, BillingWrite, ChatWrite, ProfileRead, SourcesRead, SourcesWrite, StreamsRead,
        StreamsWrite,
    };
    r.routes(declare(
        Key(Admin),
        routes!(admin::change_plan, admin::cancel_subscription),
    ))
    .routes(declare(Key(Admin), routes!(admin::actions)))
    .routes(declare(Key(Admin), routes!(nodes::admin_nodes)))
    .routes(declare(
        Key(Admin),
        routes!(
            crate::routes::backups::admin_backups,
            crate::routes::backups::back_up_now
        ),
    ))
    .routes(declare(Key(Admin), routes!(admin::change_role)))
    .routes(declare(Key(Admin), routes!(campaigns::admin_brands)))
    .routes(declare(Key(Admin), routes!(campaigns::set_brand_tier)))
    .routes(declare(Key(Admin), routes!(admin::suspend_user)))
    .routes(declare(Key(Admin), routes!(admin::reactivate_user)))
    // The audit log (issue 21): entries, checkpoints, proofs; its public key for anyone.
    .routes(declare(Key(Admin), routes!(crate::routes::audit::entries)))
    .routes(declare(Key(Admin), routes!(crate::routes::audit::entry)))
    .routes(declare(
        Key(Admin),
        routes!(
            crate::routes::audit::checkpoints,
            crate::routes::audit::create_checkpoint
        ),
    ))
    .routes(declare(Key(Admin), routes!(crate::routes::audit::status)))
    .routes(declare(
        Key(Admin),
        routes!(crate::routes::audit::inclusion),
    ))
    .routes(declare(
        Key(Admin),
        routes!(crate::routes::audit::consistency),
    ))
    .routes(declare(Public, routes!(crate::routes::audit::public_key)))
    .routes(declare(
        Key(SourcesWrite),
        routes!(connectors::twitch_connect),
    ))
    .routes(declare(
        Key(SourcesWrite),
        routes!(connectors::youtube_connect),
    ))
    .routes(declare(Public, routes!(watch::watch)))
    .routes(declare(Public, routes!(watch::thumbnail)))
    .routes(declare(Public, routes!(browse::categories)))
    .routes(declare(Public, routes!(browse::live)))
    .routes(declare(Public, routes!(playback::flv)))
    .routes(declare(Public, routes!(playback::hls_playlist)))
    .routes(declare(Public, routes!(playback::hls_segment)))
    .routes(declare(Public, routes!(playback::hls_session_playlist)))
    .routes(declare(Public, routes!(playback::hls_session_segment)))
    .routes(declare(Public, routes!(playback::hls_rendition)))
    .routes(declare(
        Public,
        routes!(whep::whep_offer, whep::whep_preflight),
    ))
    .routes(declare(Public, routes!(whep::whep_end)))
    // WHIP: the stream key is the credential, checked by the publish authoriser.
    .routes(declare(StreamKey, routes!(whep::whip_offer)))
    .routes(declare(StreamKey, routes!(whep::whip_end)))
    // Videos reuse the sources scopes: a key that manages a creator's sources manages
    // their videos.
    .routes(declare(Key(SourcesRead), routes!(videos::list_videos)))
    // Public, private or unlisted: the handler reads an optional caller (the owner).
    .routes(declare(Public, routes!(videos::get_video)))
    .routes(declare(Key(SourcesWrite), routes!(videos::update_video)))
}

#[inline(never)]
fn api_routes_5(r: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    #[allow(unused_imports)]
    use crate::access::Access::{Probe, Public, Scope as Key, Session, StreamKey};
    #[allow(unused_imports)]
    use ferrocast_domain::account::Scope::{
        Admin, BillingWrite, ChatWrite, ProfileRead, SourcesRead, SourcesWrite, StreamsRead,
        StreamsWrite,
    };
    r.routes(declare(Key(SourcesWrite), routes!(videos::delete_video)))
        .routes(declare(Public, routes!(videos::past_broadcasts)))
        .routes(declare(
            Session,
            routes!(engagement::like, engagement::unlike),
        ))
        // Public: anyone who may see the video reads its comments; the handler reads an
        // optional caller (what they may delete).
        .routes(declare(Public, routes!(engagement::comments)))
        .routes(declare(Session, routes!(engagement::post_comment)))
        .routes(declare(Session, routes!(engagement::delete_comment)))
        .routes(declare(Session, routes!(engagement::report_comment)))
        // Players count views and send heartbeats without an account (rate-limited per
        // address in the service); a signed-in viewer is counted as themselves.
        .routes(declare(Public, routes!(engagement::view)))
        .routes(declare(Public, routes!(engagement::heartbeat)))
        .routes(declare(Key(SourcesRead), routes!(engagement::analytics)))
        .routes(declare(Public, routes!(engagement::trending)))
        .routes(declare(Public, routes!(uploads::tus_options)))
        .routes(declare(Key(SourcesWrite), routes!(uploads::create_upload)))
        // A large upload is many PATCH requests: not charged to the per-user rate limit.
        .routes(declare(
            Probe(SourcesWrite),
            routes!(uploads::upload_status, uploads::append_upload),
        ))
        .routes(declare(
            Key(SourcesWrite),
            routes!(uploads::terminate_upload),
        ))
        .routes(declare(Public, routes!(vod::object)))
        .routes(declare(Session, routes!(profiles::update_profile)))
        .routes(declare(
            Session,
            routes!(profiles::upload_avatar, profiles::delete_avatar),
        ))
        .routes(declare(
            Session,
            routes!(profiles::upload_banner, profiles::delete_banner),
        ))
        .routes(declare(Public, routes!(profiles::profile_media)))
        .routes(declare(Public, routes!(posts::post_media)))
        .routes(declare(Session, routes!(posts::upload_post_image)))
        .routes(declare(Session, routes!(posts::create_post)))
        .routes(declare(Public, routes!(posts::get_post)))
        .routes(declare(Session, routes!(posts::delete_post)))
        .routes(declare(
            Session,
            routes!(posts::like_post, posts::unlike_post),
        ))
        .routes(declare(Public, routes!(posts::post_comments)))
        .routes(declare(Session, routes!(posts::comment_on_post)))
        .routes(declare(Session, routes!(posts::delete_post_comment)))
        .routes(declare(Public, routes!(posts::channel_posts)))
        .routes(declare(Key(ProfileRead), routes!(posts::home_feed)))
        .routes(declare(Public, routes!(profiles::get_channel)))
        .routes(declare(Public, routes!(search::search)))
        .routes(declare(Public, routes!(shorts::shorts)))
        .routes(declare(Key(ProfileRead), routes!(schedule::my_schedule)))
}

#[inline(never)]
fn api_routes_6(r: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    #[allow(unused_imports)]
    use crate::access::Access::{Probe, Public, Scope as Key, Session, StreamKey};
    #[allow(unused_imports)]
    use ferrocast_domain::account::Scope::{
        Admin, BillingWrite, ChatWrite, ProfileRead, SourcesRead, SourcesWrite, StreamsRead,
        StreamsWrite,
    };
    r.routes(declare(Session, routes!(schedule::create_scheduled)))
        .routes(declare(
            Session,
            routes!(schedule::update_scheduled, schedule::delete_scheduled),
        ))
        .routes(declare(Public, routes!(schedule::channel_schedule)))
        .routes(declare(Session, routes!(campaigns::create_brand)))
        .routes(declare(Key(ProfileRead), routes!(campaigns::my_brands)))
        .routes(declare(Key(ProfileRead), routes!(campaigns::brand_team)))
        .routes(declare(Session, routes!(campaigns::update_brand)))
        .routes(declare(Session, routes!(campaigns::invite_brand_member)))
        .routes(declare(Session, routes!(campaigns::revoke_brand_invite)))
        .routes(declare(Session, routes!(campaigns::join_brand)))
        .routes(declare(
            Session,
            routes!(
                campaigns::change_brand_member,
                campaigns::remove_brand_member
            ),
        ))
        .routes(declare(Session, routes!(campaigns::create_campaign)))
        .routes(declare(
            Key(ProfileRead),
            routes!(campaigns::brand_campaigns),
        ))
        .routes(declare(Public, routes!(campaigns::discover_campaigns)))
        .routes(declare(Public, routes!(campaigns::get_campaign)))
        .routes(declare(Session, routes!(campaigns::update_campaign)))
        .routes(declare(Session, routes!(campaigns::set_campaign_status)))
        .routes(declare(Session, routes!(campaigns::add_campaign_milestone)))
        .routes(declare(Session, routes!(campaigns::set_campaign_milestone)))
        .routes(declare(Session, routes!(campaigns::apply_to_campaign)))
        .routes(declare(
            Key(ProfileRead),
            routes!(campaigns::campaign_applications),
        ))
        .routes(declare(
            Session,
            routes!(campaigns::invite_creator_to_campaign),
        ))
        .routes(declare(Session, routes!(campaigns::decide_application)))
        .routes(declare(Session, routes!(campaigns::answer_application)))
        .routes(declare(
            Key(ProfileRead),
            routes!(campaigns::my_applications),
        ))
        .routes(declare(
            Key(ProfileRead),
            routes!(campaign_work::campaign_escrow),
        ))
        .routes(declare(Session, routes!(campaign_work::fund_campaign)))
        .routes(declare(
            Session,
            routes!(campaign_work::refund_campaign_escrow),
        ))
        .routes(declare(
            Key(ProfileRead),
            routes!(campaign_work::campaign_deliverables),
        ))
        .routes(declare(Session, routes!(campaign_work::submit_deliverable)))
        .routes(declare(
            Key(ProfileRead),
            routes!(campaign_work::get_deliverable),
        ))
        .routes(declare(
            Session,
            routes!(campaign_work::resubmit_deliverable),
        ))
        .routes(declare(
            Session,
            routes!(campaign_work::roll_back_deliverable),
        ))
        .routes(declare(Session, routes!(campaign_work::review_deliverable)))
        .routes(declare(
            Session,
            routes!(campaign_work::propose_deliverable_rights),
        ))
}

#[inline(never)]
fn api_routes_7(r: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    #[allow(unused_imports)]
    use crate::access::Access::{Probe, Public, Scope as Key, Session, StreamKey};
    #[allow(unused_imports)]
    use ferrocast_domain::account::Scope::{
        Admin, BillingWrite, ChatWrite, ProfileRead, SourcesRead, SourcesWrite, StreamsRead,
        StreamsWrite,
    };
    r.routes(declare(
        Session,
        routes!(campaign_work::consent_deliverable_rights),
    ))
    .routes(declare(
        Session,
        routes!(campaign_work::add_deliverable_hotspot),
    ))
    .routes(declare(
        Session,
        routes!(campaign_work::delete_deliverable_hotspot),
    ))
    .routes(declare(Public, routes!(campaign_work::embed_deliverable)))
    .routes(declare(Public, routes!(campaign_work::campaign_gallery)))
    .routes(declare(Public, routes!(campaign_work::click_hotspot)))
    .routes(declare(Session, routes!(campaign_work::conversion_secret)))
    .routes(declare(Public, routes!(campaign_work::report_conversion)))
    .routes(declare(Public, routes!(campaign_work::conversion_pixel)))
    .routes(declare(
        Key(ProfileRead),
        routes!(campaign_work::campaign_report),
    ))
    .routes(declare(Public, routes!(schedule::channel_ics)))
    .routes(declare(
        Session,
        routes!(profiles::follow_channel, profiles::unfollow_channel),
    ))
    .routes(declare(Key(ProfileRead), routes!(profiles::following)))
    .routes(declare(
        Key(ProfileRead),
        routes!(notifications::list_notifications),
    ))
    .routes(declare(
        Session,
        routes!(notifications::mark_notifications_read),
    ))
    .routes(declare(
        Session,
        routes!(
            notifications::get_notification_preferences,
            notifications::put_notification_preferences
        ),
    ))
    // The signed token in the link is the credential (RFC 8058 one-click unsubscribe).
    .routes(declare(
        Public,
        routes!(
            notifications::unsubscribe_email,
            notifications::unsubscribe_email_page
        ),
    ))
    .routes(declare(Public, routes!(notifications::vapid_public_key)))
    .routes(declare(
        Session,
        routes!(
            notifications::subscribe_push,
            notifications::unsubscribe_push
        ),
    ))
    .routes(declare(Public, routes!(tips::tip_options)))
    .routes(declare(Public, routes!(tips::channel_goals)))
    .routes(declare(Key(ProfileRead), routes!(tips::my_tips)))
    .routes(declare(Session, routes!(tips::my_overlay)))
    .routes(declare(Session, routes!(tips::rotate_overlay)))
    .routes(declare(Session, routes!(tips::test_overlay)))
    .routes(declare(Key(ProfileRead), routes!(tips::my_goals)))
    .routes(declare(Session, routes!(tips::create_goal)))
    .routes(declare(
        Session,
        routes!(tips::update_goal, tips::delete_goal),
    ))
    // The overlay token in the path is the credential.
    .routes(declare(Public, routes!(overlay::overlay_info)))
    .routes(declare(Public, routes!(overlay::overlay_events)))
    // Earnings and payouts (issue 20): reads with a profile key; what moves money or
    // changes how it is divided needs a session.
    .routes(declare(Key(ProfileRead), routes!(earnings::my_earnings)))
    .routes(declare(Key(ProfileRead), routes!(earnings::my_payouts)))
    .routes(declare(Session, routes!(earnings::request_payout)))
    .routes(declare(Session, routes!(earnings::connect_stripe)))
    .routes(declare(Session, routes!(earnings::refresh_stripe_connect)))
}

#[inline(never)]
fn api_routes_8(r: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    #[allow(unused_imports)]
    use crate::access::Access::{Probe, Public, Scope as Key, Session, StreamKey};
    #[allow(unused_imports)]
    use ferrocast_domain::account::Scope::{
        Admin, BillingWrite, ChatWrite, ProfileRead, SourcesRead, SourcesWrite, StreamsRead,
        StreamsWrite,
    };
    r.routes(declare(Session, routes!(earnings::set_bank_details)))
        .routes(declare(Key(ProfileRead), routes!(earnings::my_statement)))
        .routes(declare(Key(ProfileRead), routes!(earnings::my_splits)))
        .routes(declare(Session, routes!(earnings::put_split)))
        .routes(declare(
            Key(ProfileRead),
            routes!(earnings::purchase_receipt),
        ))
        .routes(declare(Key(Admin), routes!(payouts::admin_revenue)))
        .routes(declare(Key(Admin), routes!(payouts::admin_payouts)))
        .routes(declare(Key(Admin), routes!(payouts::approve_payout)))
        .routes(declare(Key(Admin), routes!(payouts::reject_payout)))
        .routes(declare(Key(Admin), routes!(payouts::mark_payout_paid)))
        .routes(declare(Key(Admin), routes!(payouts::export_payouts)))
        .routes(declare(Key(Admin), routes!(payouts::list_tax_rates)))
        .routes(declare(
            Key(Admin),
            routes!(payouts::put_tax_rate, payouts::delete_tax_rate),
        ))
        .routes(declare(Public, routes!(payouts::stripe_connect_webhook)))
        // Memberships and gated content (issue 20).
        .routes(declare(Key(ProfileRead), routes!(memberships::my_tiers)))
        .routes(declare(Session, routes!(memberships::create_tier)))
        .routes(declare(Session, routes!(memberships::apply_template)))
        .routes(declare(
            Session,
            routes!(memberships::update_tier, memberships::delete_tier),
        ))
        .routes(declare(Public, routes!(memberships::channel_tiers)))
        .routes(declare(
            Key(ProfileRead),
            routes!(memberships::my_memberships),
        ))
        .routes(declare(Session, routes!(memberships::cancel_membership)))
        .routes(declare(Key(ProfileRead), routes!(memberships::my_members)))
        .routes(declare(
            Key(SourcesWrite),
            routes!(memberships::set_video_access),
        ))
        .routes(declare(
            Key(SourcesRead),
            routes!(memberships::get_source_access),
        ))
        .routes(declare(
            Key(SourcesWrite),
            routes!(memberships::set_source_access),
        ))
        .routes(declare(Public, routes!(memberships::live_access)))
        // Your data (issue 21): exports and deleting the account. A session only: an API key
        // can neither take all of an account's data nor delete it.
        .routes(declare(
            Session,
            routes!(privacy::request_export, privacy::export_status),
        ))
        .routes(declare(Session, routes!(privacy::download_export)))
        .routes(declare(Public, routes!(privacy::download_signed)))
        .routes(declare(Session, routes!(privacy::delete_account)))
        // Reports, the moderation queue, strikes and appeals (issue 21).
        .routes(declare(Session, routes!(safety::create_report)))
        .routes(declare(Session, routes!(safety::my_standing)))
        .routes(declare(Session, routes!(safety::create_appeal)))
        .routes(declare(Session, routes!(safety::queue)))
        .routes(declare(Session, routes!(safety::queue_entry)))
}

#[inline(never)]
fn api_routes_9(r: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    #[allow(unused_imports)]
    use crate::access::Access::{Probe, Public, Scope as Key, Session, StreamKey};
    #[allow(unused_imports)]
    use ferrocast_domain::account::Scope::{
        Admin, BillingWrite, ChatWrite, ProfileRead, SourcesRead, SourcesWrite, StreamsRead,
        StreamsWrite,
    };
    r.routes(declare(Session, routes!(safety::decide)))
        .routes(declare(Session, routes!(safety::appeals)))
        .routes(declare(Session, routes!(safety::decide_appeal)))
        // Copyright notices (DMCA): anyone may file one (rate-limited per address in the
        // service) and follow it with its case token.
        .routes(declare(Public, routes!(dmca::file_notice)))
        .routes(declare(Public, routes!(dmca::complainant_case)))
        .routes(declare(Session, routes!(dmca::my_cases)))
        .routes(declare(Session, routes!(dmca::uploader_case)))
        .routes(declare(Session, routes!(dmca::counter_notice)))
        .routes(declare(Key(Admin), routes!(dmca::admin_cases)))
        .routes(declare(Key(Admin), routes!(dmca::admin_case)))
        .routes(declare(Key(Admin), routes!(dmca::admin_decide)))
        // Radio: a creator's station and tracks; its card and stream are public.
        .routes(declare(
            Session,
            routes!(radio::get_my_station, radio::put_my_station),
        ))
        .routes(declare(Session, routes!(radio::add_track)))
        .routes(declare(Session, routes!(radio::delete_track)))
        .routes(declare(Session, routes!(radio::order_tracks)))
        .routes(declare(Public, routes!(radio::get_station)))
        .routes(declare(Public, routes!(radio::icecast)))
        // Hangouts: the host's own; joining by link, and a peer's token for the rest.
        .routes(declare(
            Session,
            routes!(hangouts::create_hangout, hangouts::my_hangouts),
        ))
        .routes(declare(Public, routes!(hangouts::get_hangout)))
        .routes(declare(Session, routes!(hangouts::end_hangout)))
        .routes(declare(Public, routes!(hangouts::join_hangout)))
        .routes(declare(Public, routes!(hangouts::publish_peer)))
        .routes(declare(Public, routes!(hangouts::leave_hangout)))
        .routes(declare(Session, routes!(hangouts::broadcast_hangout)))
}

/// The wildcard of `/vod/{id}/{*path}` as OpenAPI spells a parameter.
fn tidy(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let wild: Vec<String> = doc
        .paths
        .paths
        .keys()
        .filter(|k| k.contains("{*"))
        .cloned()
        .collect();
    for k in wild {
        if let Some(item) = doc.paths.paths.remove(&k) {
            doc.paths.paths.insert(k.replace("{*", "{"), item);
        }
    }
    doc
}

/// The OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    tidy(api_router().split_for_parts().1)
}

/// The complete application with middleware.
pub fn router(state: AppState) -> Router {
    let (api, doc) = api_router().split_for_parts();
    let doc = tidy(doc);
    let cfg = &state.config;

    let mut app = api
        .merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", doc))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(cfg.max_body_bytes))
        .layer(middleware::from_fn_with_state(
            cfg.max_body_bytes,
            refuse_oversized,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::site::maintenance_gate,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::drain::viewer_gate,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::ip_lists::admin_gate,
        ))
        .layer(middleware::from_fn(map_plain_errors))
        .layer(middleware::from_fn(request_timeout));

    if !cfg.cors_origins.is_empty() {
        let origins = if cfg.cors_origins.iter().any(|o| o == "*") {
            AllowOrigin::from(Any)
        } else {
            AllowOrigin::list(
                cfg.cors_origins
                    .iter()
                    .filter_map(|o| HeaderValue::from_str(o).ok()),
            )
        };
        app = app.layer(
            CorsLayer::new()
                .allow_origin(origins)
                .allow_methods([
                    Method::GET,
                    Method::HEAD,
                    Method::POST,
                    Method::PUT,
                    Method::PATCH,
                    Method::DELETE,
                ])
                // tus (resumable uploads) sends and reads its own headers.
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    HeaderName::from_static("tus-resumable"),
                    HeaderName::from_static("upload-length"),
                    HeaderName::from_static("upload-offset"),
                    HeaderName::from_static("upload-metadata"),
                    HeaderName::from_static("upload-checksum"),
                    HeaderName::from_static("upload-defer-length"),
                    HeaderName::from_static("upload-concat"),
                    HeaderName::from_static("x-http-method-override"),
                    HeaderName::from_static("x-requested-with"),
                ])
                .expose_headers([
                    header::RETRY_AFTER,
                    HeaderName::from_static("x-request-id"),
                    header::LOCATION,
                    HeaderName::from_static("upload-offset"),
                    HeaderName::from_static("upload-length"),
                    HeaderName::from_static("tus-resumable"),
                    HeaderName::from_static("tus-version"),
                    HeaderName::from_static("tus-extension"),
                    HeaderName::from_static("tus-max-size"),
                    HeaderName::from_static("x-video-id"),
                ])
                .max_age(Duration::from_secs(600)),
        );
    }

    let hsts = cfg.public_url.starts_with("https://");
    let request_id = HeaderName::from_static("x-request-id");
    app = app
        .layer(security_header("x-content-type-options", "nosniff"))
        .layer(middleware::map_response(deny_framing))
        .layer(security_header("referrer-policy", "no-referrer"))
        .layer(security_header("cross-origin-opener-policy", "same-origin"))
        // The studio may use the camera, microphone and screen (going live from the browser); no
        // other site framing ours may, and nobody the location.
        .layer(security_header("permissions-policy", "camera=(self), microphone=(self), display-capture=(self), geolocation=()"))
        .layer(security_header(
            "content-security-policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ))
        .layer(security_header("cache-control", "no-store"));
    if hsts {
        app = app.layer(security_header(
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        ));
    }
    app.layer(compression())
        .layer(middleware::from_fn_with_state(state.clone(), track))
        // The routes' access checks (crate::access) read the state from here.
        .layer(axum::Extension(state.clone()))
        .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| ApiError::internal("handler panicked").into_response()))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().on_response(DefaultOnResponse::new().level(Level::DEBUG).latency_unit(LatencyUnit::Millis)).make_span_with(|req: &Request| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("http", method = %req.method(), path = %loggable_path(req.uri().path()), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(middleware::from_fn(sane_request_id))
        .with_state(state)
}

/// The request path as logged: a segment that holds a stream key (`sk_…`, in any spelling:
/// percent-encoded too, e.g. `/live/%73k_…`) is replaced, because logs must never hold
/// secrets. Percent-encoded paths are logged decoded, so what is logged is what was meant.
/// gzip and brotli for the API's JSON and the web app's assets, as the client asks
/// (`Accept-Encoding`). Live media and event streams pass untouched: a compressor buffers what
/// it is given, and an HTTP-FLV tag or an SSE event must leave as soon as it is written
/// (`text/event-stream` and `video/x-flv`); HLS playlists and segments are small or already
/// compressed, and players fetch them in a tight loop. Socket.IO sits outside this router.
fn compression() -> CompressionLayer<impl Predicate> {
    let predicate = SizeAbove::new(256)
        .and(NotForContentType::const_new("text/event-stream"))
        .and(NotForContentType::const_new("video/"))
        .and(NotForContentType::const_new("audio/"))
        .and(NotForContentType::const_new(
            "application/vnd.apple.mpegurl",
        ))
        .and(NotForContentType::const_new("application/x-mpegurl"))
        .and(NotForContentType::const_new("application/zip"))
        .and(NotForContentType::IMAGES)
        .and(NotForContentType::GRPC);
    CompressionLayer::new()
        .gzip(true)
        .br(true)
        .no_deflate()
        .no_zstd()
        .compress_when(predicate)
}

pub fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    let decoded: std::borrow::Cow<'_, str> = if path.contains('%') {
        std::borrow::Cow::Owned(percent_decode_lossy(path))
    } else {
        std::borrow::Cow::Borrowed(path)
    };
    if !has_key_marker(&decoded) {
        return decoded;
    }
    let redacted: Vec<&str> = decoded
        .split('/')
        .map(|seg| {
            if has_key_marker(seg) {
                "sk_[redacted]"
            } else {
                seg
            }
        })
        .collect();
    std::borrow::Cow::Owned(redacted.join("/"))
}

/// Whether `s` holds `sk_` in any letter case, without allocating (this runs per request).
fn has_key_marker(s: &str) -> bool {
    s.as_bytes().windows(3).any(|w| {
        w[0].eq_ignore_ascii_case(&b's') && w[1].eq_ignore_ascii_case(&b'k') && w[2] == b'_'
    })
}

/// `%XX` sequences decoded (repeatedly, so a double-encoded key is found too); invalid ones
/// kept as they are; invalid UTF-8 replaced.
fn percent_decode_lossy(path: &str) -> String {
    let mut current = path.to_string();
    // A few rounds cover double and triple encoding; each round only shortens the text.
    for _ in 0..3 {
        if !current.contains('%') {
            break;
        }
        let bytes = current.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            match (
                bytes.get(i),
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                (Some(b'%'), Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                }
                (Some(b), _, _) => {
                    out.push(*b);
                    i += 1;
                }
                (None, _, _) => break,
            }
        }
        let next = String::from_utf8_lossy(&out).into_owned();
        if next == current {
            break;
        }
        current = next;
    }
    current
}

/// Drops a caller's `X-Request-Id` unless it is 1 to 64 characters of `[A-Za-z0-9._-]`; a new
/// one is then generated. Request ids reach logs and responses: they must not carry text a log
/// reader could be fooled by, nor fill lines.
async fn sane_request_id(mut req: Request, next: Next) -> Response {
    let valid = |v: &HeaderValue| {
        let b = v.as_bytes();
        !b.is_empty()
            && b.len() <= 64
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
    };
    let headers = req.headers_mut();
    let all_valid = {
        let mut values = headers.get_all("x-request-id").iter();
        match (values.next(), values.next()) {
            (Some(v), None) => valid(v),
            (None, _) => true,
            _ => false,
        }
    };
    if !all_valid {
        headers.remove("x-request-id");
    }
    next.run(req).await
}

/// `X-Frame-Options: DENY` (for browsers without CSP `frame-ancestors`) on every response but
/// those marked [`crate::web::Frameable`] (the embeddable player).
async fn deny_framing(mut res: Response) -> Response {
    if res.extensions().get::<crate::web::Frameable>().is_none() {
        res.headers_mut()
            .entry(HeaderName::from_static("x-frame-options"))
            .or_insert(HeaderValue::from_static("DENY"));
    }
    res
}

fn security_header(name: &'static str, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(
        HeaderName::from_static(name),
        HeaderValue::from_static(value),
    )
}

async fn not_found(State(state): State<AppState>, req: Request) -> Response {
    let path = req.uri().path();
    if crate::web::is_app_path(path) {
        // Razorpay's hosted Checkout is a form the subscription page posts; ePayco's Smart
        // Checkout is a script it loads (which may post to its own origin).
        let p = &state.config.payments;
        let razorpay = p.razorpay.as_ref().map(|k| k.api_base.as_str());
        let epayco = p
            .epayco
            .as_ref()
            .and_then(|k| k.checkout.as_ref())
            .map(|c| c.script_url.as_str());
        let policy = crate::web::Policy {
            scripts: epayco.and_then(crate::web::origin).into_iter().collect(),
            forms: [razorpay, epayco]
                .into_iter()
                .flatten()
                .filter_map(crate::web::origin)
                .collect(),
        };
        let browsing = req.method() == Method::GET || req.method() == Method::HEAD;
        if let (true, Some(id)) = (browsing, crate::web::watch_id(path)) {
            return watch_page(&state, id, &policy).await;
        }
        if let (true, Some(id)) = (
            browsing,
            path.strip_prefix("/embed/deliverables/")
                .filter(|id| !id.is_empty() && !id.contains('/')),
        ) {
            return deliverable_embed_page(&state, id, req.uri().query(), &policy).await;
        }
        if let (true, Some(_)) = (
            browsing,
            path.strip_prefix("/embed/campaigns/")
                .and_then(|rest| rest.strip_suffix("/gallery"))
                .filter(|id| !id.is_empty() && !id.contains('/')),
        ) {
            let mut page = crate::web::page(StatusCode::OK, None, &policy, true);
            page.extensions_mut().insert(crate::web::Frameable);
            return page;
        }
        if let Some(page) = crate::web::serve(req.method(), path, &policy) {
            return page;
        }
        if browsing && crate::web::is_page_path(path) {
            // The app's own not-found page.
            return crate::web::page(StatusCode::NOT_FOUND, None, &policy, false);
        }
    }
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "Not found",
        format!(
            "No route for {} {}; the API is described at /api/docs.",
            req.method(),
            truncate_path(req.uri().path())
        ),
    )
    .into_response()
}

/// The brand's embed of a campaign deliverable: the app's embed page, answered 403 when the
/// usage rights do not permit the use now (the page shows why, from the API), 404 when there
/// is no such deliverable. `?country=` names where the brand uses it (a limited licence).
async fn deliverable_embed_page(
    state: &AppState,
    id: &str,
    query: Option<&str>,
    policy: &crate::web::Policy<'_>,
) -> Response {
    let country = query
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .and_then(|fields| fields.into_iter().find(|(k, _)| k == "country"))
        .map(|(_, v)| v);
    let status = match state.brands.embeddable(id, country.as_deref()).await {
        Ok(_) => StatusCode::OK,
        Err(crate::service::campaigns::CampaignError::Forbidden(_)) => StatusCode::FORBIDDEN,
        Err(crate::service::campaigns::CampaignError::NotFound(_)) => StatusCode::NOT_FOUND,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let mut page = crate::web::page(status, None, policy, true);
    page.extensions_mut().insert(crate::web::Frameable);
    page
}

/// A watch page: the app with the stream's preview tags (title, creator, picture) for chat
/// apps; answered 404 (the app then says the stream does not exist) for an unknown id.
async fn watch_page(
    state: &AppState,
    playback_id: &str,
    policy: &crate::web::Policy<'_>,
) -> Response {
    let info = crate::service::watch::watch_info(
        &state.db,
        &state.streams,
        &state.config.public_url,
        playback_id,
    )
    .await;
    match info {
        Ok(Some(w)) => {
            let meta = crate::web::PageMeta {
                title: format!("{} · {}", w.title, w.creator),
                description: w.description(),
                url: w.url.clone(),
                image: w.thumbnail_url.clone(),
            };
            crate::web::page(StatusCode::OK, Some(&meta), policy, false)
        }
        Ok(None) => crate::web::page(StatusCode::NOT_FOUND, None, policy, false),
        Err(e) => {
            // The page still works (it asks the API itself); only the preview is lost.
            tracing::warn!(error = %e, "cannot load a stream for its watch page's preview");
            crate::web::page(StatusCode::OK, None, policy, false)
        }
    }
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "Method not allowed",
        format!(
            "{} is not supported on {}.",
            req.method(),
            truncate_path(req.uri().path())
        ),
    )
}

fn truncate_path(p: &str) -> String {
    p.chars().take(100).collect()
}

/// Gives every error response our body: those layers produce without one (timeout, oversized
/// body) and the plain-text rejections of axum's extractors.
async fn map_plain_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let content_type = res.headers().get(header::CONTENT_TYPE);
    let is_json = content_type.is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    // The web app's not-found page (index.html answered 404) is a page, not an error body.
    let is_page = content_type.is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if is_json || is_page || res.status().is_success() {
        return res;
    }
    match res.status() {
        StatusCode::PAYLOAD_TOO_LARGE => too_large().into_response(),
        StatusCode::REQUEST_TIMEOUT => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "REQUEST_TIMEOUT",
            "The request took too long",
            "Try again; if it keeps happening, tell the operator.",
        )
        .into_response(),
        status if status.is_client_error() => {
            // Rejections of axum's own extractors (path and query parameters) are plain text;
            // give them our body, keeping their (bounded) explanation as the details.
            let text = match axum::body::to_bytes(res.into_body(), 4096).await {
                Ok(b) => String::from_utf8_lossy(&b)
                    .chars()
                    .take(200)
                    .collect::<String>(),
                Err(_) => String::new(),
            };
            let (code, error) = match status {
                StatusCode::BAD_REQUEST => ("BAD_REQUEST", "The request is not valid"),
                StatusCode::NOT_FOUND => ("NOT_FOUND", "Not found"),
                StatusCode::UNPROCESSABLE_ENTITY => ("VALIDATION_ERROR", "Validation failed"),
                _ => ("REQUEST_ERROR", "The request cannot be served"),
            };
            let details = if text.trim().is_empty() {
                "Check the request against /api/docs.".to_string()
            } else {
                text
            };
            ApiError::new(status, code, error, details).into_response()
        }
        _ => res,
    }
}

/// Whether a request is a tus PATCH: its body is streamed to disk with its own limit and read
/// timeout ([`crate::service::uploads`]), so the JSON body limit and the whole-request timeout
/// do not apply.
fn is_upload_patch(req: &Request) -> bool {
    req.method() == Method::PATCH && req.uri().path().starts_with("/api/uploads/")
}

/// Answers 408 to a request not answered within [`REQUEST_TIMEOUT`] (tus PATCH excepted).
async fn request_timeout(req: Request, next: Next) -> Response {
    if is_upload_patch(&req) {
        return next.run(req).await;
    }
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(res) => res,
        Err(_) => StatusCode::REQUEST_TIMEOUT.into_response(),
    }
}

/// Bytes of an oversized body read and discarded before answering 413.
const MAX_DRAIN_BYTES: usize = 16 * 1024 * 1024;
/// Time spent draining an oversized body at most.
const MAX_DRAIN_TIME: Duration = Duration::from_secs(2);

/// Answers 413 to a body whose declared length is over the limit — after reading (and
/// discarding) a bounded part of it, as nginx's lingering close does: closing a socket with
/// unread data makes the kernel send a reset, which can destroy the 413 before the client
/// reads it.
async fn refuse_oversized(State(limit): State<usize>, req: Request, next: Next) -> Response {
    // Pictures (profile pictures, a source's slate) have their own limit (8 MiB), which their
    // handlers enforce.
    let path = req.uri().path();
    let picture = (req.method() == Method::POST
        && matches!(path, "/api/me/avatar" | "/api/me/banner"))
        || (req.method() == Method::PUT
            && path.starts_with("/api/sources/")
            && path.ends_with("/slate"));
    if is_upload_patch(&req) || picture {
        return next.run(req).await;
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_none_or(|n| n <= limit as u64) {
        return next.run(req).await;
    }
    use http_body_util::BodyExt;
    let mut body = req.into_body();
    let deadline = tokio::time::Instant::now() + MAX_DRAIN_TIME;
    let mut drained = 0usize;
    while drained <= MAX_DRAIN_BYTES {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => drained += frame.data_ref().map_or(0, |d| d.len()),
            _ => break,
        }
    }
    too_large().into_response()
}

/// Records metrics for every request, labelled by route template.
async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let res = next.run(req).await;
    let route = route.unwrap_or_else(|| {
        if res.status() == StatusCode::NOT_FOUND {
            "unmatched".into()
        } else {
            "other".into()
        }
    });
    state
        .metrics
        .observe(&method, &route, res.status().as_u16(), start.elapsed());
    res
}

#[cfg(test)]
mod tests {
    #[test]
    fn stream_keys_never_reach_the_log() {
        let key = format!("sk_{}", "ab".repeat(32));
        let path = format!("/api/streams/forwarding/{key}");
        let logged = super::loggable_path(&path);
        assert_eq!(logged, "/api/streams/forwarding/sk_[redacted]");
        assert_eq!(super::loggable_path("/api/sources/1"), "/api/sources/1");
        // Any spelling: percent-encoded, double-encoded, upper case, inside a segment.
        for p in [
            format!("/api/streams/forwarding/%73k_{}", "ab".repeat(32)),
            format!("/api/streams/forwarding/%2573%256B_{}", "ab".repeat(32)),
            format!("/api/streams/forwarding/%53K_{}", "AB".repeat(32)),
            format!("/live/x{key}.flv"),
            format!("/hls/%2F{key}/index.m3u8"),
        ] {
            let logged = super::loggable_path(&p);
            assert!(!logged.contains(&"ab".repeat(32)), "{p} logged as {logged}");
            assert!(
                !logged.to_ascii_lowercase().contains(&"ab".repeat(32)),
                "{p} logged as {logged}"
            );
        }
        assert_eq!(super::loggable_path("/a%20b/%zz"), "/a b/%zz");
    }
}
