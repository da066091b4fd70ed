//! The API route table of a project: `/todo/:id` patterns, matching, and conflict detection.

use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

#[derive(Debug, Clone)]
struct Route {
    method: String,
    segments: Vec<Segment>,
    step: String,
}

/// What a request path resolves to.
#[derive(Debug, PartialEq, Eq)]
pub enum RouteMatch {
    Found {
        step: String,
        params: HashMap<String, String>,
    },
    /// The path exists for other methods.
    MethodNotAllowed(Vec<String>),
    NotFound,
}

#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
}

fn parse(path: &str) -> Vec<Segment> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| match s.strip_prefix(':') {
            Some(name) => Segment::Param(name.to_string()),
            None => Segment::Literal(s.to_string()),
        })
        .collect()
}

/// Two routes conflict when they have the same method and the same shape (literals equal, params anywhere).
fn same_shape(a: &[Segment], b: &[Segment]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| match (x, y) {
            (Segment::Literal(l), Segment::Literal(r)) => l == r,
            (Segment::Param(_), Segment::Param(_)) => true,
            _ => false,
        })
}

impl RouteTable {
    /// Adds a route, or says which step already owns the same method and path shape.
    pub fn add(&mut self, method: &str, path: &str, step: &str) -> Result<(), String> {
        let method = method.to_ascii_uppercase();
        let segments = parse(path);
        if let Some(existing) = self
            .routes
            .iter()
            .find(|r| r.method == method && same_shape(&r.segments, &segments))
        {
            if existing.step != step {
                return Err(format!(
                    "{method} {path} conflicts with step `{}` which already serves the same route",
                    existing.step
                ));
            }
            return Ok(());
        }
        self.routes.push(Route {
            method,
            segments,
            step: step.to_string(),
        });
        // Literal segments win over params: sort so more specific routes are tried first.
        self.routes.sort_by_key(|r| {
            r.segments
                .iter()
                .map(|s| matches!(s, Segment::Param(_)) as u8)
                .collect::<Vec<_>>()
        });
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    pub fn resolve(&self, method: &str, path: &str) -> RouteMatch {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut allowed = Vec::new();
        for route in &self.routes {
            if route.segments.len() != parts.len() {
                continue;
            }
            let mut params = HashMap::new();
            let ok = route.segments.iter().zip(&parts).all(|(seg, part)| match seg {
                Segment::Literal(l) => l == part,
                Segment::Param(name) => {
                    let decoded = percent_decode(part);
                    params.insert(name.clone(), decoded);
                    true
                }
            });
            if !ok {
                continue;
            }
            if route.method.eq_ignore_ascii_case(method) {
                return RouteMatch::Found {
                    step: route.step.clone(),
                    params,
                };
            }
            allowed.push(route.method.clone());
        }
        if allowed.is_empty() {
            RouteMatch::NotFound
        } else {
            allowed.sort();
            allowed.dedup();
            RouteMatch::MethodNotAllowed(allowed)
        }
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() && s.is_char_boundary(i + 3) {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
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
    fn matches_params_and_prefers_literals() {
        let mut t = RouteTable::default();
        t.add("GET", "/todo/:id", "GetTodo").unwrap();
        t.add("GET", "/todo/all", "ListTodos").unwrap();
        t.add("POST", "/todo", "CreateTodo").unwrap();
        match t.resolve("GET", "/todo/42") {
            RouteMatch::Found { step, params } => {
                assert_eq!(step, "GetTodo");
                assert_eq!(params["id"], "42");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(t.resolve("GET", "/todo/all"), RouteMatch::Found { step, .. } if step == "ListTodos"));
        assert_eq!(
            t.resolve("DELETE", "/todo"),
            RouteMatch::MethodNotAllowed(vec!["POST".into()])
        );
        assert_eq!(t.resolve("GET", "/nothing"), RouteMatch::NotFound);
        assert!(matches!(t.resolve("GET", "/todo/a%20b"), RouteMatch::Found { params, .. } if params["id"] == "a b"));
    }

    #[test]
    fn detects_conflicts_by_shape() {
        let mut t = RouteTable::default();
        t.add("GET", "/a/:id", "One").unwrap();
        let err = t.add("GET", "/a/:key", "Two").unwrap_err();
        assert!(err.contains("`One`"), "{err}");
        t.add("POST", "/a/:key", "Two").unwrap();
        t.add("GET", "/a/:id", "One").unwrap(); // re-registering the same step is fine
    }
}
