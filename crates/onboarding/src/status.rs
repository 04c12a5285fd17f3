//! The life cycle of an application (journey steps 1–2):
//!
//! ```text
//! draft ──submit──▶ submitted ──start review──▶ under_review ──approve──▶ approved
//!                       ▲                             │
//!                       └────────resubmit──── rejected ◀──reject (with a reason)
//! ```
//!
//! The applicant edits only a draft or a rejected application; staff decide only what is under review.

use serde::{Deserialize, Serialize};

/// Where an application stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Being filled in.
    Draft,
    /// Complete and waiting for a reviewer.
    Submitted,
    /// A reviewer has it.
    UnderReview,
    /// Approved: the merchant exists.
    Approved,
    /// Rejected with a reason; the applicant may correct and resubmit.
    Rejected,
}

/// What can be done to an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The applicant changes fields or documents.
    Edit,
    /// The applicant submits (or resubmits).
    Submit,
    /// A reviewer takes it from the queue.
    StartReview,
    /// A reviewer approves.
    Approve,
    /// A reviewer rejects.
    Reject,
}

impl Status {
    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Submitted => "submitted",
            Status::UnderReview => "under_review",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
        }
    }

    /// The status named so.
    pub fn parse(name: &str) -> Option<Status> {
        [Status::Draft, Status::Submitted, Status::UnderReview, Status::Approved, Status::Rejected]
            .into_iter()
            .find(|s| s.as_str() == name)
    }

    /// Where `action` leads from here, or `None` when it is not allowed.
    pub fn after(self, action: Action) -> Option<Status> {
        use Action::*;
        use Status::*;
        match (self, action) {
            (Draft | Rejected, Edit) => Some(self),
            (Draft | Rejected, Submit) => Some(Submitted),
            (Submitted, StartReview) => Some(UnderReview),
            (UnderReview, Approve) => Some(Approved),
            (UnderReview, Reject) => Some(Rejected),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journey_and_nothing_else() {
        use Action::*;
        use Status::*;
        let all = [Draft, Submitted, UnderReview, Approved, Rejected];
        let actions = [Edit, Submit, StartReview, Approve, Reject];
        let allowed: Vec<(Status, Action, Status)> =
            all.iter().flat_map(|s| actions.iter().filter_map(move |a| s.after(*a).map(|to| (*s, *a, to)))).collect();
        assert_eq!(
            allowed,
            [
                (Draft, Edit, Draft),
                (Draft, Submit, Submitted),
                (Submitted, StartReview, UnderReview),
                (UnderReview, Approve, Approved),
                (UnderReview, Reject, Rejected),
                (Rejected, Edit, Rejected),
                (Rejected, Submit, Submitted),
            ]
        );
        for s in all {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
    }
}
