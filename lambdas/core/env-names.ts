/**
 * Environment variable names shared by the Lambda handlers, the CDK constructs that set them and the
 * local sandbox that wires the same handlers. One list, so a rename cannot leave a function misconfigured.
 */
export const ENV = {
  /** Name of the DynamoDB ledger table. */
  ledgerTable: 'LEDGER_TABLE_NAME',
  /** KMS key id, ARN or alias ARN that signs checkpoints. */
  signingKey: 'SIGNING_KEY_ID',
  /** Signing algorithm: ECDSA_SHA_256 (ECC_NIST_P256 keys) or RSASSA_PKCS1_V1_5_SHA_256 (RSA_2048 keys). */
  signingAlgorithm: 'SIGNING_ALGORITHM',
  /** Deployment origin: the prefix of every log origin, `<deployment-origin>/<tenant>/<shard>`. */
  deploymentOrigin: 'DEPLOYMENT_ORIGIN',
  /** JSON: the tenant table `{ "tenants": [{ "name", "shards", "writers": [arn], "readers": [arn], "auditors": [arn] }] }`. */
  tenants: 'TENANTS_CONFIG',
  /** Archive bucket name (S3, Object Lock). */
  archiveBucket: 'ARCHIVE_BUCKET_NAME',
  /** Custom EventBridge bus name for audit events and alerts. */
  eventBus: 'EVENT_BUS_NAME',
  /** Days a record stays in DynamoDB after it is archived (TTL). */
  hotRetentionDays: 'HOT_RETENTION_DAYS',
  /**
   * The integrity monitor's own IAM role ARN (`arn:aws:iam::<account>:role/<name>`): the caller of the
   * `integrity.violation` events it records in the trail.
   */
  monitorRoleArn: 'MONITOR_ROLE_ARN',
} as const;
