//! The JSON Schemas in `schemas/` (draft 2020-12, derived from the official OBIE OpenAPI files;
//! each file's `$comment` says from where), embedded once for both users: the harness validates
//! every body it sees against them (`harness::schema`) and the sandbox publishes them as the
//! component schemas of its OpenAPI document (`sandbox::http::openapi`).

macro_rules! embedded {
    ($($dir:literal / $name:literal),+ $(,)?) => {
        &[ $( ($dir, $name, include_str!(concat!("../../schemas/", $dir, "/", $name, ".json"))), )+ ]
    };
}

/// Every embedded schema: (version dir, name, JSON text).
pub const SCHEMAS: &[(&str, &str, &str)] = embedded![
    "v3.1.11" / "OBEventSubscription1",
    "v3.1.11" / "OBEventSubscriptionResponse1",
    "v3.1.11" / "OBEventSubscriptionsResponse1",
    "v3.1.11" / "OBEventPolling1",
    "v3.1.11" / "OBEventPollingResponse1",
    "v3.1.11" / "OBErrorResponse1",
    "v3.1.11" / "OBCallbackUrl1",
    "v3.1.11" / "OBCallbackUrlResponse1",
    "v3.1.11" / "OBCallbackUrlsResponse1",
    "v3.1.11" / "OBEventNotification2",
    "v3.1.11" / "OBSetJoseHeader",
    "v3.1.2" / "OBEventSubscription1",
    "v3.1.2" / "OBEventSubscriptionResponse1",
    "v3.1.2" / "OBEventSubscriptionsResponse1",
    "v3.1.2" / "OBEventPolling1",
    "v3.1.2" / "OBEventPollingResponse1",
    "v3.1.2" / "OBErrorResponse1",
    "v3.1.2" / "OBCallbackUrl1",
    "v3.1.2" / "OBCallbackUrlResponse1",
    "v3.1.2" / "OBCallbackUrlsResponse1",
];
