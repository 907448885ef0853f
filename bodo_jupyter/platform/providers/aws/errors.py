"""AWS errors as messages a person can act on.

Throttling and 5xx are retried by botocore (standard mode, with backoff);
what reaches this module is either permanent or retried out, and becomes a
ProvisionError that names the operation and what to do.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from ...errors import BadRequest, PlatformError, ProvisionError

DENIED = {"UnauthorizedOperation", "AccessDenied", "AccessDeniedException",
          "UnauthorizedAccess", "AuthorizationError"}
BAD_CREDENTIALS = {"InvalidClientTokenId", "SignatureDoesNotMatch", "AuthFailure",
                   "UnrecognizedClientException", "InvalidAccessKeyId", "ExpiredToken"}
CAPACITY = {"InsufficientInstanceCapacity", "InsufficientCapacity", "InsufficientHostCapacity"}
THROTTLED = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "SlowDown",
             "TooManyRequestsException", "RequestThrottled", "ProvisionedThroughputExceeded"}


def code_of(e: ClientError) -> str:
    return str(e.response.get("Error", {}).get("Code", ""))


def message_of(e: ClientError) -> str:
    return str(e.response.get("Error", {}).get("Message", "")).strip()


def explain(e: Exception, operation: str, *, instance_type: str = "",
            on_create: bool = True) -> PlatformError:
    """The error to show for a failed AWS call."""
    if isinstance(e, PlatformError):
        return e
    cls = ProvisionError if on_create else BadRequest
    if isinstance(e, ClientError):
        code, msg = code_of(e), message_of(e)
        if code in DENIED:
            return cls(f"AWS denied {operation}: the credentials lack a permission "
                       f"({msg or code}). Attach the bodo-platform policy "
                       "(`bodo-jupyter aws create-policy`) to the IAM user of these keys",
                       code="aws_denied")
        if code in BAD_CREDENTIALS:
            return cls(f"AWS rejected the credentials in {operation} ({code}): check the "
                       "access key id and secret, or set them again", code="aws_credentials")
        if code in CAPACITY:
            what = instance_type or "this instance type"
            return cls(f"AWS has no capacity for {what} right now ({msg or code}). Try "
                       "again later, with fewer instances or another instance type",
                       code="aws_capacity")
        if code.endswith("LimitExceeded") and code not in THROTTLED:
            return cls(f"an AWS account limit was reached in {operation}: {msg or code}. "
                       "Delete unused resources or ask AWS for a higher quota",
                       code="aws_limit")
        if code in THROTTLED:
            return cls(f"AWS kept throttling {operation} after retries; try again in a "
                       "few minutes", code="aws_throttled")
        return cls(f"AWS error in {operation}: {code}: {msg}", code="aws_error")
    if isinstance(e, BotoCoreError):
        return cls(f"cannot reach AWS in {operation}: {e}", code="aws_unreachable")
    return cls(f"{operation} failed: {type(e).__name__}: {e}")
