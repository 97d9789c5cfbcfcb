//! Deliberate defects of the reference TPP (`obevents tpp receive --fault NAME`). Each switches
//! on one non-conformance of a TPP and nothing else, so the harness's TPP scenarios can prove
//! they catch each one under the rule it breaks (as the sandbox's faults do for the bank
//! scenarios). The table below is the single source of names, rules and descriptions
//! (expanded by `fault_table`, as the sandbox's is).

use std::collections::BTreeSet;

/// Where a TPP fault takes effect (groups `--list-faults`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Push,
    Yapily,
    Tatra,
    Polling,
}

impl Area {
    pub fn name(self) -> &'static str {
        match self {
            Area::Push => "push receiver",
            Area::Yapily => "Yapily-style receiver",
            Area::Tatra => "Tatra-style receiver",
            Area::Polling => "polling client",
        }
    }
}

crate::fault_table::fault_table! {
    TppFault, Area, "see `obevents tpp receive --list-faults`";
    AcceptsBadSignature = "accepts-bad-signature", Push, ["R8935-05", "J-06"],
        "a SET whose signature does not verify is accepted (the check's result is ignored)";
    AcceptsUnknownKid = "accepts-unknown-kid", Push, ["R8935-05", "J-06"],
        "a SET whose kid is not in the issuer's JWKS (after one refresh) is accepted unverified";
    JwksNeverRefreshed = "jwks-never-refreshed", Push, ["R8935-06"],
        "the issuer's JWKS is fetched once and never again: a SET signed by a newly published key is refused";
    AcceptsAlgNone = "accepts-alg-none", Push, ["R8935-23", "J-06"],
        "an unsigned SET (alg none) is accepted";
    AcceptsHs256 = "accepts-hs256", Push, ["R8935-23", "J-06"],
        "an HS256 SET is verified with the issuer's public key (PEM) as the HMAC secret";
    IgnoresAud = "ignores-aud", Push, ["R8935-05"],
        "the aud claim is not checked: SETs for other recipients are accepted";
    IgnoresIss = "ignores-iss", Push, ["R8935-05"],
        "the iss claim is not checked: SETs of other issuers are accepted";
    IgnoresIat = "ignores-iat", Push, ["J-06"],
        "a SET issued in the future (OB iat header, iat claim) is accepted";
    IgnoresCrit = "ignores-crit", Push, ["J-06"],
        "the crit header is not checked: a crit without the OB members is accepted";
    AcceptsAnyContentType = "accepts-any-content-type", Push, ["R8935-24"],
        "a SET sent with any Content-Type (text/plain) is accepted";
    Answers200 = "answers-200", Push, ["R-05", "R8935-06"],
        "an accepted SET is answered 200 instead of 202";
    NoInteractionId = "no-interaction-id", Push, ["R-05"],
        "the answer does not echo the push's x-fapi-interaction-id";
    ErrorWithoutErr = "error-without-err", Push, ["R8935-09"],
        "a refused SET is answered 400 with {\"message\": …} instead of {err, description}";
    UnregisteredErr = "unregistered-err", Push, ["R8935-22"],
        "a refused SET's err is a home-made code (signature_mismatch, …), not a registered one";
    Answers500 = "answers-500", Push, ["R8935-09", "R8935-24"],
        "a refused SET (or media type) is answered 500 instead of 400";
    NoContentLanguage = "no-content-language", Push, ["R8935-10"],
        "error answers carry no Content-Language";
    ProcessesDuplicate = "processes-duplicate", Push, ["R8935-25"],
        "a SET delivered again is processed again (no deduplication by jti)";
    ProcessesRefused = "processes-refused", Push, ["R8935-05"],
        "a refused SET is answered 400 but processed all the same";
    SlowAnswer = "slow-answer", Push, ["R8935-07"],
        "every answer waits 3 s (validation and processing before answering)";
    YapilyIgnoresDigest = "yapily-ignores-digest", Yapily, ["JWD-06"],
        "the signature's digest is not compared with the body: a tampered body is accepted";
    YapilyIgnoresExpiry = "yapily-ignores-expiry", Yapily, ["JWD-05"],
        "the signature's exp is not checked: an expired signature is accepted";
    YapilyAcceptsReplay = "yapily-accepts-replay", Yapily, ["JWD-07"],
        "signature jtis are not remembered: a jti used before is accepted again";
    YapilyAcceptsUnknownKey = "yapily-accepts-unknown-key", Yapily, ["JWD-03", "JWD-04"],
        "a signature whose kid is not in the sender's JWKS (after one refresh) is accepted unverified";
    YapilyAcceptsAlgNone = "yapily-accepts-alg-none", Yapily, ["JWD-02"],
        "an unsigned signature (alg none) is accepted";
    TatraIgnoresAuthorization = "tatra-ignores-authorization", Tatra, ["TB-13"],
        "the Authorization is not compared with the configured security header: any or none is accepted";
    TatraRefusesRefresh = "tatra-refuses-refresh", Tatra, ["TB-14"],
        "an accountEvent (the result of a refresh) is refused with 400 as an unknown kind";
    NeverAcks = "never-acks", Polling, ["R8936-21", "R8936-22"],
        "the polling client verifies and processes SETs but never acknowledges them";
    AcksUnservedJti = "acks-unserved-jti", Polling, ["R8936-34", "R8936-10", "R8936-12"],
        "every poll also acknowledges a jti the bank never served";
    UsesAcksMember = "uses-acks-member", Polling, ["AP-04", "R8936-01", "R8936-21", "R8936-22"],
        "acknowledgements go in an `acks` member (OBEventPolling1 names it `ack`)";
    IgnoresMoreAvailable = "ignores-more-available", Polling, ["R8936-33"],
        "moreAvailable is ignored: the client waits its empty-poll pace after every answer";
    IgnoresRetryAfter = "ignores-retry-after", Polling, ["AP-19"],
        "a 429's Retry-After is ignored: the client polls again after 50 ms";
    HotLoopEmptyPolls = "hot-loop-empty-polls", Polling, ["AP-20"],
        "an empty short poll is followed by the next one after 5 ms, not the declared pace";
    AcksBadSignature = "acks-bad-signature", Polling, ["R8935-05", "J-06"],
        "a SET whose verification fails is reported in setErrs but acknowledged as well";
    WrongSetErrCode = "wrong-seterr-code", Polling, ["R8936-12", "R8936-13"],
        "a refused SET is reported in setErrs with a home-made err (bad_signature)";
    RetriesDeadToken = "retries-dead-token", Polling, ["AP-21"],
        "a token refused with 401 is retried five more times before a new one is fetched";
}

/// The faults switched on for one reference TPP.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TppFaults(BTreeSet<TppFault>);

impl TppFaults {
    pub fn new(faults: impl IntoIterator<Item = TppFault>) -> Self {
        TppFaults(faults.into_iter().collect())
    }
    pub fn has(&self, f: TppFault) -> bool {
        self.0.contains(&f)
    }
}

/// The `--list-faults` text: one line per fault, grouped by area (as the sandbox's).
pub fn listing() -> String {
    crate::fault_table::listing(TppFault::ALL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parse() {
        let mut seen = BTreeSet::new();
        for f in TppFault::ALL {
            assert!(seen.insert(f.name()), "duplicate {}", f.name());
            assert_eq!(f.name().parse::<TppFault>(), Ok(*f));
            assert!(!f.rules().is_empty());
        }
        assert!(TppFault::ALL.len() >= 8);
        assert!(listing().contains("accepts-alg-none"));
    }
}
