"""The AWS provider: clusters in the organisation's own AWS account, through boto3."""
