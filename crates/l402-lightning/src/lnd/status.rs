//! LND's gRPC statuses and payment failure reasons, mapped to our stable error codes.

use tonic::{Code, Status};

use crate::lnd::proto::lnrpc::PaymentFailureReason;
use crate::Error;

/// Maps a gRPC status from LND to our error. LND reports most refusals as `Unknown` with a
/// message, so the message decides where the code does not (decision 0203).
pub(crate) fn to_error(status: &Status) -> Error {
    let message = status.message().to_owned();
    let lower = message.to_ascii_lowercase();
    match status.code() {
        Code::Unavailable => Error::Unreachable(message),
        Code::DeadlineExceeded => Error::Timeout,
        Code::NotFound => Error::InvoiceNotFound,
        Code::AlreadyExists if lower.contains("transition") || lower.contains("in flight") => {
            Error::PaymentInFlight
        }
        Code::AlreadyExists => Error::AlreadyPaid,
        Code::PermissionDenied | Code::Unauthenticated => Error::PermissionDenied(message),
        Code::InvalidArgument => Error::InvalidRequest(message),
        _ if lower.contains("macaroon")
            || lower.contains("permission denied")
            || lower.contains("verification failed") =>
        {
            Error::PermissionDenied(message)
        }
        _ if lower.contains("invoice expired") => Error::InvoiceExpired,
        _ if lower.contains("unable to locate invoice")
            || lower.contains("no existing invoices") =>
        {
            Error::InvoiceNotFound
        }
        _ if lower.contains("transport error") || lower.contains("connect") => {
            Error::Unreachable(message)
        }
        _ => Error::Backend(format!("{:?}: {message}", status.code())),
    }
}

/// Maps the failure reason of a failed payment.
pub(crate) fn failure(reason: i32) -> Error {
    match PaymentFailureReason::try_from(reason) {
        Ok(PaymentFailureReason::FailureReasonTimeout) => Error::Timeout,
        Ok(PaymentFailureReason::FailureReasonNoRoute) => Error::NoRoute,
        Ok(PaymentFailureReason::FailureReasonInsufficientBalance) => Error::InsufficientBalance,
        Ok(PaymentFailureReason::FailureReasonIncorrectPaymentDetails) => {
            Error::PaymentFailed("incorrect payment details".into())
        }
        Ok(PaymentFailureReason::FailureReasonCanceled) => Error::PaymentFailed("canceled".into()),
        Ok(PaymentFailureReason::FailureReasonError) => Error::PaymentFailed("error".into()),
        Ok(PaymentFailureReason::FailureReasonNone) | Err(_) => {
            Error::PaymentFailed(format!("failure reason {reason}"))
        }
    }
}
