//! The Zep routes the fake serves, in one table: the front classifies requests with it (for faults,
//! the journal and metric labels) and the wiremock backend mounts one mock per entry from it.
//!
//! Route names are bounded: a request is labelled by its pattern (`POST /api/v2/threads/{id}/messages`),
//! never by its raw URL.

use serde::Serialize;

/// The API generation a route belongs to; it decides the error body shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiVersion {
    /// zep-cloud 2.x / zep-python 2.x sessions + memory API, under `/api/v2`.
    V2,
    /// zep-cloud 3.x threads API, also under `/api/v2`.
    V3,
    /// zep-cloud 4.x, under `/api/v4` (UUID ids, `Idempotency-Key`, `{"error": {...}}` bodies).
    V4,
}

/// What a route does, as far as faults and the journal care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteKind {
    /// Creates a user.
    User,
    /// Creates a thread or session.
    Thread,
    /// Stores messages (a memory write).
    Write,
    /// Reads context, memory or messages (a memory read).
    Read,
}

/// One Zep route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// `POST /api/v2/users` (v2 and v3 share it).
    CreateUser,
    /// `POST /api/v2/threads`.
    CreateThread,
    /// `POST /api/v2/threads/{id}/messages`.
    AddMessages,
    /// `POST /api/v2/threads/{id}/messages-batch` (deprecated, same shape).
    AddMessagesBatch,
    /// `GET /api/v2/threads/{id}/context`.
    GetContext,
    /// `GET /api/v2/threads/{id}/messages`.
    GetMessages,
    /// `POST /api/v2/sessions`.
    CreateSession,
    /// `POST /api/v2/sessions/{id}/memory`.
    AddMemory,
    /// `GET /api/v2/sessions/{id}/memory`.
    GetMemory,
    /// `GET /api/v2/sessions/{id}/messages`.
    GetSessionMessages,
    /// `POST /api/v4/users`.
    V4CreateUser,
    /// `POST /api/v4/threads`.
    V4CreateThread,
    /// `POST /api/v4/threads/{id}/messages`.
    V4AddMessages,
    /// `GET /api/v4/threads/{id}/context`.
    V4GetContext,
}

impl Route {
    /// Every route, in matching order.
    pub const ALL: [Route; 14] = [
        Route::CreateUser,
        Route::CreateThread,
        Route::AddMessages,
        Route::AddMessagesBatch,
        Route::GetContext,
        Route::GetMessages,
        Route::CreateSession,
        Route::AddMemory,
        Route::GetMemory,
        Route::GetSessionMessages,
        Route::V4CreateUser,
        Route::V4CreateThread,
        Route::V4AddMessages,
        Route::V4GetContext,
    ];

    /// The route's pattern, `METHOD /path/{id}`: its name in fault programs, the journal and metrics.
    pub fn pattern(self) -> &'static str {
        match self {
            Route::CreateUser => "POST /api/v2/users",
            Route::CreateThread => "POST /api/v2/threads",
            Route::AddMessages => "POST /api/v2/threads/{id}/messages",
            Route::AddMessagesBatch => "POST /api/v2/threads/{id}/messages-batch",
            Route::GetContext => "GET /api/v2/threads/{id}/context",
            Route::GetMessages => "GET /api/v2/threads/{id}/messages",
            Route::CreateSession => "POST /api/v2/sessions",
            Route::AddMemory => "POST /api/v2/sessions/{id}/memory",
            Route::GetMemory => "GET /api/v2/sessions/{id}/memory",
            Route::GetSessionMessages => "GET /api/v2/sessions/{id}/messages",
            Route::V4CreateUser => "POST /api/v4/users",
            Route::V4CreateThread => "POST /api/v4/threads",
            Route::V4AddMessages => "POST /api/v4/threads/{id}/messages",
            Route::V4GetContext => "GET /api/v4/threads/{id}/context",
        }
    }

    /// The HTTP method.
    pub fn method(self) -> &'static str {
        self.pattern().split(' ').next().unwrap_or("GET")
    }

    /// The path pattern, with `{id}` for the thread/session segment.
    pub fn path(self) -> &'static str {
        self.pattern().split(' ').nth(1).unwrap_or("/")
    }

    /// A regex matching the route's path exactly, for wiremock's `path_regex`.
    pub fn path_regex(self) -> String {
        format!("^{}$", self.path().replace("{id}", "[^/]+"))
    }

    /// The API generation, which decides the error body shape.
    pub fn version(self) -> ApiVersion {
        match self {
            Route::CreateSession
            | Route::AddMemory
            | Route::GetMemory
            | Route::GetSessionMessages => ApiVersion::V2,
            Route::V4CreateUser
            | Route::V4CreateThread
            | Route::V4AddMessages
            | Route::V4GetContext => ApiVersion::V4,
            _ => ApiVersion::V3,
        }
    }

    /// What the route does.
    pub fn kind(self) -> RouteKind {
        match self {
            Route::CreateUser | Route::V4CreateUser => RouteKind::User,
            Route::CreateThread | Route::CreateSession | Route::V4CreateThread => RouteKind::Thread,
            Route::AddMessages
            | Route::AddMessagesBatch
            | Route::AddMemory
            | Route::V4AddMessages => RouteKind::Write,
            Route::GetContext
            | Route::GetMessages
            | Route::GetMemory
            | Route::GetSessionMessages
            | Route::V4GetContext => RouteKind::Read,
        }
    }
}

/// A request's route and the thread (or session) id in its path, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    /// The route.
    pub route: Route,
    /// The `{id}` path segment, percent-decoded.
    pub thread: Option<String>,
}

/// Finds the route of `method path` (path without the query string). `None` for anything that is not
/// one of Zep's routes.
pub fn classify(method: &str, path: &str) -> Option<Matched> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    Route::ALL.iter().find_map(|&route| {
        if !route.method().eq_ignore_ascii_case(method) {
            return None;
        }
        let pattern: Vec<&str> = route.path().split('/').collect();
        if pattern.len() != segments.len() {
            return None;
        }
        let mut thread = None;
        for (want, got) in pattern.iter().zip(&segments) {
            if *want == "{id}" {
                if got.is_empty() {
                    return None;
                }
                thread = Some(percent_decode(got));
            } else if want != got {
                return None;
            }
        }
        Some(Matched { route, thread })
    })
}

/// Decodes `%XX` escapes; malformed escapes are kept as they are.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(value) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(value);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_every_route_from_its_own_pattern() {
        for route in Route::ALL {
            let path = route.path().replace("{id}", "t%201");
            let matched = classify(route.method(), &path).expect("route matches its pattern");
            assert_eq!(matched.route, route);
            let expect_thread = route.path().contains("{id}").then(|| "t 1".to_string());
            assert_eq!(matched.thread, expect_thread);
            let regex = regex::Regex::new(&route.path_regex()).unwrap();
            assert!(regex.is_match(&path), "{} vs {path}", route.path_regex());
        }
    }

    #[test]
    fn unknown_paths_and_methods_do_not_match() {
        assert_eq!(classify("DELETE", "/api/v2/threads"), None);
        assert_eq!(classify("GET", "/api/v2/threads/t1/context/extra"), None);
        assert_eq!(classify("GET", "/api/v3/threads/t1/context"), None);
        assert_eq!(classify("GET", "/api/v2/threads//context"), None);
    }

    #[test]
    fn percent_decoding_keeps_malformed_escapes() {
        assert_eq!(percent_decode("a%2Fb"), "a/b");
        assert_eq!(percent_decode("a%zzb%"), "a%zzb%");
        assert_eq!(percent_decode("%4"), "%4");
    }
}
