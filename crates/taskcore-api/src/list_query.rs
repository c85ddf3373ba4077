//! DRF-style query strings: filters, search, ordering, pagination and page links.

use taskcore_core::validate::{invalid_choice, parse_bool};
use taskcore_core::{
    FieldErrors, OrderField, OrderKey, Priority, Status, TaskQuery, TaskTypes, Timestamp,
};

use crate::ApiError;

/// Default `page_size`.
pub const DEFAULT_PAGE_SIZE: usize = 20;
/// Largest `page_size`; larger requests are taken as this.
pub const MAX_PAGE_SIZE: usize = 500;
/// Most characters in `search`: a list query's cost grows with tasks × terms.
pub const MAX_SEARCH_CHARS: usize = 200;
/// Most terms in `search`.
pub const MAX_SEARCH_TERMS: usize = 16;

/// The query string as ordered pairs; the last value of a repeated name wins, as Django's
/// `QueryDict.get` does.
#[derive(Clone, Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses a raw query string (`None`: no query string).
    pub fn parse(raw: Option<&str>) -> Self {
        Params(
            form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The last non-empty value of a parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.trim().is_empty())
    }

    /// A relative link to the same query at another page: `?…&page=N`.
    pub fn link_to_page(&self, page: usize) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.0.iter().filter(|(k, _)| k != "page") {
            out.append_pair(k, v);
        }
        out.append_pair("page", &page.to_string());
        format!("?{}", out.finish())
    }
}

/// Which page was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageNumber {
    /// A page number, from 1.
    Number(usize),
    /// `page=last`, as DRF accepts.
    Last,
}

/// A validated list request.
#[derive(Clone, Debug)]
pub struct ListRequest {
    /// Filters, search and ordering (offset and limit set by [`ListRequest::paginate`]).
    pub query: TaskQuery,
    /// The page asked for.
    pub page: PageNumber,
    /// The page size.
    pub page_size: usize,
}

impl ListRequest {
    /// Sets the query's window for a page of a result of `count` matches, or refuses a page
    /// that does not exist.
    ///
    /// # Errors
    /// [`ApiError::InvalidPage`] for a page past the last.
    pub fn paginate(&mut self, count: usize) -> Result<(usize, usize), ApiError> {
        let (page, pages) = page_window(self.page, self.page_size, count)?;
        self.query.offset = (page - 1) * self.page_size;
        self.query.limit = self.page_size;
        Ok((page, pages))
    }
}

/// The page asked for and its size, from `page` and `page_size`.
///
/// # Errors
/// [`ApiError::InvalidPage`] for a page number that is not a positive integer or `last`.
pub fn pagination(params: &Params) -> Result<(PageNumber, usize), ApiError> {
    let page = match params.get("page").map(str::trim) {
        None => PageNumber::Number(1),
        Some("last") => PageNumber::Last,
        Some(n) => match n.parse::<usize>() {
            Ok(n) if n >= 1 => PageNumber::Number(n),
            _ => return Err(ApiError::InvalidPage),
        },
    };
    let page_size = params
        .get("page_size")
        .and_then(|s| s.trim().parse::<usize>().ok())
        .filter(|&n| n >= 1)
        .map_or(DEFAULT_PAGE_SIZE, |n| n.min(MAX_PAGE_SIZE));
    Ok((page, page_size))
}

/// The page number and the number of pages of a result of `count` matches.
///
/// # Errors
/// [`ApiError::InvalidPage`] for a page past the last.
pub fn page_window(
    page: PageNumber,
    page_size: usize,
    count: usize,
) -> Result<(usize, usize), ApiError> {
    let pages = count.div_ceil(page_size).max(1);
    match page {
        PageNumber::Last => Ok((pages, pages)),
        PageNumber::Number(n) if n <= pages => Ok((n, pages)),
        PageNumber::Number(_) => Err(ApiError::InvalidPage),
    }
}

fn split_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|v| !v.is_empty())
}

fn choices<T>(
    params: &Params,
    name: &str,
    parse: impl Fn(&str) -> Option<T>,
    names: &[&str],
    errors: &mut FieldErrors,
) -> Option<Vec<T>> {
    let raw = params.get(name)?;
    let mut out = Vec::new();
    for v in split_list(raw) {
        match parse(v) {
            Some(x) => out.push(x),
            None => {
                errors.add(name, invalid_choice(names));
                return None;
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

fn date(params: &Params, name: &str, errors: &mut FieldErrors) -> Option<Timestamp> {
    let raw = params.get(name)?;
    let parsed = Timestamp::parse_date_or_datetime(raw);
    if parsed.is_none() {
        errors.add(name, "Enter a valid date/time.");
    }
    parsed
}

fn boolean(params: &Params, name: &str, errors: &mut FieldErrors) -> Option<bool> {
    let raw = params.get(name)?;
    let parsed = parse_bool(raw);
    if parsed.is_none() {
        errors.add(name, "Enter a valid boolean: true or false.");
    }
    parsed
}

/// `ordering`: each orderable field at most once (so at most [`OrderField::NAMES`] keys); the
/// first bad term ends the parse, so a long list costs no more than a short one.
fn ordering(params: &Params, errors: &mut FieldErrors) -> Vec<OrderKey> {
    let Some(raw) = params.get("ordering") else {
        return Vec::new();
    };
    let mut keys: Vec<OrderKey> = Vec::new();
    for term in split_list(raw) {
        let (descending, name) = match term.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, term),
        };
        let Some(field) = OrderField::parse(name) else {
            let name: String = name.chars().take(64).collect();
            errors.add(
                "ordering",
                format!(
                    "Invalid ordering field: {name}. Choices: {}",
                    OrderField::NAMES.join(", ")
                ),
            );
            return Vec::new();
        };
        if keys.iter().any(|k| k.field == field) {
            errors.add(
                "ordering",
                format!("Each field may appear once in ordering: {name} is repeated."),
            );
            return Vec::new();
        }
        keys.push(OrderKey { field, descending });
    }
    keys
}

/// `search`: at most [`MAX_SEARCH_CHARS`] characters and [`MAX_SEARCH_TERMS`] terms, split on
/// whitespace and commas, lower-cased.
fn search(params: &Params, errors: &mut FieldErrors) -> Vec<String> {
    let Some(raw) = params.get("search") else {
        return Vec::new();
    };
    if raw.chars().count() > MAX_SEARCH_CHARS {
        errors.add(
            "search",
            format!("Ensure this field has no more than {MAX_SEARCH_CHARS} characters."),
        );
        return Vec::new();
    }
    let terms: Vec<String> = raw
        .split(|c: char| c.is_whitespace() || c == ',' || c == '\0')
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect();
    if terms.len() > MAX_SEARCH_TERMS {
        errors.add(
            "search",
            format!("Use at most {MAX_SEARCH_TERMS} search terms."),
        );
        return Vec::new();
    }
    terms
}

/// The `created_after`/`created_before` range of the statistics endpoints.
///
/// # Errors
/// A date that does not parse.
pub fn created_range(params: &Params) -> Result<(Option<Timestamp>, Option<Timestamp>), ApiError> {
    let mut errors = FieldErrors::default();
    let after = date(params, "created_after", &mut errors);
    let before = date(params, "created_before", &mut errors);
    errors
        .into_result((after, before))
        .map_err(ApiError::Validation)
}

/// Parses and validates a list request.
///
/// # Errors
/// [`ApiError::Validation`] for bad filters or ordering, [`ApiError::InvalidPage`] for a page
/// that is not a positive integer.
pub fn parse_list(params: &Params, brand: u64, types: &TaskTypes) -> Result<ListRequest, ApiError> {
    let mut errors = FieldErrors::default();
    let mut query = TaskQuery::all(brand);
    let status_names = Status::ALL.map(Status::as_str);
    query.statuses = choices(params, "status", Status::parse, &status_names, &mut errors);
    let priority_names = Priority::ALL.map(Priority::as_str);
    query.priorities = choices(
        params,
        "priority",
        Priority::parse,
        &priority_names,
        &mut errors,
    );
    let type_names: Vec<&str> = types.0.iter().map(String::as_str).collect();
    query.task_types = choices(
        params,
        "task_type",
        |v| types.contains(v).then(|| v.to_owned()),
        &type_names,
        &mut errors,
    );
    query.task_type_prefix = params.get("task_type__startswith").map(str::to_owned);
    query.created_after = date(params, "created_after", &mut errors);
    query.created_before = date(params, "created_before", &mut errors);
    query.has_metrics = boolean(params, "has_metrics", &mut errors);
    query.is_resumable = boolean(params, "is_resumable", &mut errors);
    query.search = search(params, &mut errors);
    query.ordering = ordering(params, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let (page, page_size) = pagination(params)?;
    Ok(ListRequest {
        query,
        page,
        page_size,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// Any query string parses to a request or a 400/404 error, never a panic.
        #[test]
        fn arbitrary_query_strings_never_panic(
            raw in prop_oneof![
                ".{0,200}",
                "((status|priority|task_type|task_type__startswith|created_after|created_before|\
                   search|ordering|page|page_size|has_metrics|is_resumable)=[-a-z0-9_,%:+ ]{0,30}&){0,8}",
            ]
        ) {
            let params = Params::parse(Some(&raw));
            if let Ok(mut request) = parse_list(&params, 1, &TaskTypes::default()) {
                let _ = request.paginate(1234);
                let _ = params.link_to_page(2);
            }
            let _ = created_range(&params);
        }
    }
}
