//! Deliberate defects (`--fault NAME`). Each fault switches on one non-conformance and nothing
//! else, so TPPs can practise against a misbehaving bank and the harness can prove it catches
//! each one (issue 5). The catalogue below is the single source of names, violated rule IDs and
//! descriptions; the domain code asks [`Faults::has`] at the few places a fault bends behaviour.

use std::collections::BTreeSet;

/// Where in the product a fault takes effect, used to group the `--list-faults` output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Subscriptions,
    Polling,
    Sets,
    Common,
    Isolation,
    Push,
    Yapily,
    Tatra,
}

impl Area {
    pub fn name(self) -> &'static str {
        match self {
            Area::Subscriptions => "subscriptions",
            Area::Polling => "polling",
            Area::Sets => "SETs",
            Area::Common => "common",
            Area::Isolation => "isolation",
            Area::Push => "real-time push",
            Area::Yapily => "Yapily-style notifications",
            Area::Tatra => "Tatra-banka-style webhooks",
        }
    }
}

crate::fault_table::fault_table! {
    Fault, Area, "see `obevents sandbox --list-faults`";
    SubscriptionNo409 = "subscription-no-409", Subscriptions, ["ES-03", "CB-03"],
        "a second POST /event-subscriptions (or /callback-urls) for the same TPP is accepted instead of 409";
    UnknownId404 = "unknown-id-404", Subscriptions, ["G-11", "ES-10"],
        "PUT/DELETE of an unknown subscription or callback-url id answers 404 instead of 400";
    PutIgnoresBody = "put-ignores-body", Subscriptions, ["ES-10", "CB-02"],
        "PUT /event-subscriptions/{id} (or /callback-urls/{id}) answers 200 but keeps the old resource";
    Delete200WithBody = "delete-200-with-body", Subscriptions, ["ES-11", "G-10", "CB-01"],
        "DELETE of a subscription or callback URL answers 200 with a JSON body instead of 204";
    CallbackSuffixUnchecked = "callback-suffix-unchecked", Subscriptions, ["ES-05", "CB-04"],
        "a CallbackUrl not ending in /v{major}.{minor}/event-notifications is accepted";
    AckedRedelivered = "acked-redelivered", Polling, ["AP-09", "R8936-11"],
        "acknowledged SETs are served again by later polls";
    SetErrsRejected = "set-errs-rejected", Polling, ["AP-10", "R8936-23"],
        "a poll carrying setErrs is refused with 400";
    MaxEventsIgnored = "max-events-ignored", Polling, ["AP-07", "R8936-03"],
        "maxEvents is ignored: every awaiting SET is returned";
    MoreAvailableAlwaysFalse = "more-available-always-false", Polling, ["AP-12"],
        "moreAvailable is false even when awaiting SETs were left out";
    MoreAvailableOmitted = "more-available-omitted", Polling, ["AP-05"],
        "the poll response has no moreAvailable member";
    SetsKeyNotJti = "sets-key-not-jti", Polling, ["AP-13", "R8936-16"],
        "sets are keyed by an id that differs from each SET's jti claim";
    EmptyQueue404 = "empty-queue-404", Polling, ["R8936-16", "AP-06"],
        "an empty queue answers 404 instead of 200 with empty sets";
    LongPollImmediate = "long-poll-immediate", Polling, ["R8936-08", "AP-08"],
        "returnImmediately:false answers at once although long polling is declared";
    SetUnsigned = "set-unsigned", Sets, ["R8417-16", "J-02"],
        "SETs are unsigned (alg none)";
    SetForeignKey = "set-foreign-key", Sets, ["J-03", "J-06"],
        "SETs are signed with a key that is not in the JWKS";
    SetWrongKid = "set-wrong-kid", Sets, ["J-03", "J-06"],
        "SETs carry a kid that names no key in the JWKS";
    SetRs256 = "set-rs256", Sets, ["J-02"],
        "SETs are signed RS256 instead of PS256";
    SetMissingTxn = "set-missing-txn", Sets, ["N-02"],
        "SETs lack the txn claim";
    SetIatFuture = "set-iat-future", Sets, ["R8417-07", "N-02"],
        "SETs carry an iat an hour in the future";
    SetEventsString = "set-events-string", Sets, ["R8417-02", "N-03", "N-02"],
        "the events claim is a JSON string holding the object, not the object";
    SetWrongAud = "set-wrong-aud", Sets, ["N-02", "R8417-09"],
        "the aud claim names someone other than the receiving TPP";
    NoInteractionId = "no-interaction-id", Common, ["G-06"],
        "x-fapi-interaction-id is neither echoed nor generated";
    Unauthorized401WithBody = "401-with-body", Common, ["G-10"],
        "401 responses carry a JSON error body";
    ErrorWithoutErrors = "error-without-errors", Common, ["G-12"],
        "error bodies lack the Errors array";
    WrongErrorCode = "wrong-error-code", Common, ["G-13", "G-11", "ES-07"],
        "error bodies carry UK.OBIE.UnexpectedError instead of the specific code";
    EventsLeakToOtherTpp = "events-leak-to-other-tpp", Isolation, ["AP-17"],
        "a poll returns awaiting SETs of every TPP, not just the caller's";
    AckNotScoped = "ack-not-scoped", Isolation, ["AP-11", "AP-17"],
        "an ack releases a SET whoever it belongs to";
    UnsubscribedTypesDelivered = "unsubscribed-types-delivered", Isolation, ["N-11", "AP-17"],
        "events of types outside the subscription's EventTypes are queued";
    EventsWithoutSubscription = "events-without-subscription", Isolation, ["AP-03"],
        "events are queued for TPPs that have no event subscription";
    PushNoRetry5xx = "push-no-retry-5xx", Push, ["R-08", "R8935-15"],
        "a push answered 5xx is given up at once instead of retried";
    PushRetry4xx = "push-retry-4xx", Push, ["R-08", "R8935-15"],
        "a push answered 400 is retried like a 5xx";
    PushRetriesForever = "push-retries-forever", Push, ["R-08"],
        "failed pushes are retried without a maximum number of retries";
    PushNoBackoff = "push-no-backoff", Push, ["R-08", "R8935-15"],
        "failed pushes are retried at once, without back-off";
    PushJsonContentType = "push-json-content-type", Push, ["R-04"],
        "pushed SETs are sent as Content-Type application/json";
    PushUnsigned = "push-unsigned", Push, ["R-04", "R8417-16", "J-02"],
        "pushed SETs are unsigned (alg none), though polled ones are signed";
    PushUrlRewritten = "push-url-rewritten", Push, ["R-03"],
        "pushes go to the CallbackUrl with /event-notifications appended again";
    PushAfterDelete = "push-after-delete", Push, ["R-08"],
        "deleting the subscription (or removing its CallbackUrl) does not stop the retries \
         already scheduled, though the bank's declared policy cancels them";
    PushAfterUnsubscribe = "push-after-unsubscribe", Push, ["R-02"],
        "events raised after the subscription was deleted, or after a PUT removed its CallbackUrl \
         or the event's type, are still pushed to the last CallbackUrl";
    PushUnsubscribedTypes = "push-unsubscribed-types", Push, ["R-02", "N-11"],
        "events of types outside the subscription's EventTypes are pushed to its CallbackUrl";
    PushToOtherTpp = "push-to-other-tpp", Push, ["R-02"],
        "each pushed SET is also sent to the callback URL of another TPP";
    PushNoInteractionId = "push-no-interaction-id", Push, ["R-04"],
        "pushes carry no x-fapi-interaction-id";
    PushRepeatAfter202 = "push-repeat-after-202", Push, ["R-05", "R-08"],
        "a SET the TPP acknowledged with 202 is pushed once more";
    YapilyWrongDigest = "yapily-wrong-digest", Yapily, ["JWD-06"],
        "the yapily-signature digest is not the SHA-256 of the body";
    YapilyDigestReserialised = "yapily-digest-reserialised", Yapily, ["JWD-06"],
        "the digest is taken over the body re-serialised (pretty-printed), not the bytes sent";
    YapilyForeignKey = "yapily-foreign-key", Yapily, ["JWD-03", "JWD-04"],
        "yapily-signature is signed with a key that is not in /.well-known/jwks.json";
    YapilyAlgNone = "yapily-alg-none", Yapily, ["JWD-02"],
        "yapily-signature is an unsecured JWT (alg none, empty signature)";
    YapilyExpired = "yapily-expired", Yapily, ["JWD-05"],
        "yapily-signature's exp has already passed when the webhook is sent";
    YapilyNoSignature = "yapily-no-signature", Yapily, ["JWD-01"],
        "webhooks carry no yapily-signature header";
    YapilyNoRetry = "yapily-no-retry", Yapily, ["YA-09"],
        "a webhook answered with a non-2xx status is given up at once";
    YapilyRepeatAfter2xx = "yapily-repeat-after-2xx", Yapily, ["YA-10"],
        "a webhook the application answered 2xx is sent once more";
    YapilyUnsubscribedTypes = "yapily-unsubscribed-types", Yapily, ["YA-11"],
        "events of types the application did not subscribe to go to its webhook";
    YapilyAfterDelete = "yapily-after-delete", Yapily, ["YA-09"],
        "DELETE does not stop the retries already scheduled, though the declared policy cancels \
         them";
    YapilyAfterDeleteDelivered = "yapily-after-delete-delivered", Yapily, ["YA-06"],
        "DELETE succeeds but events of the type raised afterwards are still delivered to its URL";
    YapilyToOtherApp = "yapily-to-other-app", Yapily, ["YA-12"],
        "each event is also delivered to another application's webhook URL";
    YapilyNoEventId = "yapily-no-event-id", Yapily, ["YA-07"],
        "the delivered event object has no id";
    YapilyDuplicateSubscription = "yapily-duplicate-subscription", Yapily, ["YA-03"],
        "a second subscription of an application to one event type is accepted, not 409";
    YapilyWrongEventType = "yapily-wrong-event-type", Yapily, ["YA-08"],
        "the event object's eventType names another type than the subscribed one";
    TatraUrlQueryAccepted = "tatra-url-query-accepted", Tatra, ["TB-01"],
        "a webhook url with a query string is accepted";
    TatraHeaderPatternAccepted = "tatra-header-pattern-accepted", Tatra, ["TB-02"],
        "a security header outside [ a-zA-Z0-9=+/]* is accepted";
    TatraNoAuthorization = "tatra-no-authorization", Tatra, ["TB-03"],
        "no Authorization header although a security header is set";
    TatraAuthorizationPrefixed = "tatra-authorization-prefixed", Tatra, ["TB-03"],
        "Authorization is sent as Bearer <securityHeader>";
    TatraSendsWhileDisabled = "tatra-sends-while-disabled", Tatra, ["TB-05"],
        "events are sent while webhooks are disabled (to the stored url)";
    TatraSendsBeforeActivation = "tatra-sends-before-activation", Tatra, ["TB-04"],
        "events are sent before activeFrom";
    TatraWrongTaskId = "tatra-wrong-task-id", Tatra, ["TB-08"],
        "accountEvents carry a taskId other than the one the refresh answered";
    TatraMergedAccountEvent = "tatra-merged-account-event", Tatra, ["TB-07"],
        "one accountEvent merges all other banks instead of one per bank";
    TatraWrongTransactionType = "tatra-wrong-transaction-type", Tatra, ["TB-06"],
        "transactionEvents carry eventType UPDATED instead of NEW";
    TatraNoRetry = "tatra-no-retry", Tatra, ["TB-11"],
        "a webhook answered with a non-2xx status is never retried";
    TatraToOtherTpp = "tatra-to-other-tpp", Tatra, ["TB-10"],
        "each event is also sent to another application's enabled webhook url";
}

/// The set of faults switched on for one sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults(BTreeSet<Fault>);

impl Faults {
    pub fn new(faults: impl IntoIterator<Item = Fault>) -> Self {
        Faults(faults.into_iter().collect())
    }
    pub fn has(&self, f: Fault) -> bool {
        self.0.contains(&f)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = Fault> + '_ {
        self.0.iter().copied()
    }
}

/// The `--list-faults` text: one line per fault, grouped by area.
pub fn listing() -> String {
    crate::fault_table::listing(Fault::ALL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parse() {
        let mut seen = BTreeSet::new();
        for f in Fault::ALL {
            assert!(seen.insert(f.name()), "duplicate {}", f.name());
            assert_eq!(f.name().parse::<Fault>(), Ok(*f));
            assert!(!f.rules().is_empty());
        }
        assert!(Fault::ALL.len() >= 25);
    }
}
