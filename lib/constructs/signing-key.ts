import { Duration, aws_iam as iam, aws_kms as kms, RemovalPolicy } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { ENV } from '#core/env-names.ts';
import type { IBindableFunction } from './bindable.ts';

/** Key specs the checkpoint signer supports, and the one KMS signing algorithm used with each. */
export const SIGNING_ALGORITHMS = {
  ECC_NIST_P256: 'ECDSA_SHA_256',
  RSA_2048: 'RSASSA_PKCS1_V1_5_SHA_256',
} as const;

export type SigningKeySpec = keyof typeof SIGNING_ALGORITHMS;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[SigningKeySpec];

export interface SigningKeyProps {
  /**
   * Key spec of the asymmetric signing key.
   * @default 'ECC_NIST_P256' - ECDSA_SHA_256 signatures
   */
  readonly keySpec?: SigningKeySpec;
  /**
   * Alias pointing at the current signing key; rotation means a new key behind this alias.
   * @default 'alias/audit-trail/checkpoint-signing'
   */
  readonly aliasName?: string;
  /**
   * Key description shown in the KMS console.
   * @default - 'Audit trail checkpoint signing key'
   */
  readonly description?: string;
}

const DEFAULT_PROPS = {
  keySpec: 'ECC_NIST_P256',
  aliasName: 'alias/audit-trail/checkpoint-signing',
  description: 'Audit trail checkpoint signing key (C2SP tlog-checkpoint bodies)',
} as const satisfies Required<SigningKeyProps>;

/**
 * The asymmetric KMS key that signs every checkpoint (one Sign call per ingest request). It never rotates
 * by itself (KMS cannot rotate asymmetric keys) and is retained on stack deletion: checkpoints name its
 * key id forever.
 *
 * Functions get the key ARN, not the alias ARN: KMS authorizes Sign against the key, so the IAM grant,
 * the env var and the keyId in each checkpoint all name the same key. Rotating is a deploy: add a new
 * SigningKey, point the alias at it, bind the functions to it; the old key stays for history.
 */
export class SigningKey extends Construct {
  readonly key: kms.Key;
  readonly alias: kms.Alias;
  readonly keySpec: SigningKeySpec;
  /** The KMS SigningAlgorithm the functions must use with this key. */
  readonly algorithm: SigningAlgorithm;

  constructor(scope: Construct, id: string, props: SigningKeyProps = {}) {
    super(scope, id);
    const { keySpec, aliasName, description } = { ...DEFAULT_PROPS, ...props };
    if (!(keySpec in SIGNING_ALGORITHMS)) {
      throw new Error(`keySpec must be one of ${Object.keys(SIGNING_ALGORITHMS).join(', ')}, got ${keySpec}`);
    }
    if (!/^alias\/[a-zA-Z0-9/_-]+$/.test(aliasName) || aliasName.startsWith('alias/aws/')) {
      throw new Error(
        `aliasName must be alias/<letters, digits, /, _ or -> and not alias/aws/..., got ${aliasName}`,
      );
    }
    this.keySpec = keySpec;
    this.algorithm = SIGNING_ALGORITHMS[keySpec];
    this.key = new kms.Key(this, 'Key', {
      description,
      keySpec: kms.KeySpec[keySpec],
      keyUsage: kms.KeyUsage.SIGN_VERIFY,
      removalPolicy: RemovalPolicy.RETAIN,
      pendingWindow: Duration.days(30),
    });
    this.alias = this.key.addAlias(aliasName);
  }

  get keyArn(): string {
    return this.key.keyArn;
  }

  /** kms:Sign on this key, and only with this key's signing algorithm. */
  grantSign(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['kms:Sign'],
      resourceArns: [this.key.keyArn],
      conditions: { StringEquals: { 'kms:SigningAlgorithm': this.algorithm } },
    });
  }

  /** kms:GetPublicKey on this key (to archive and serve the public key that verifies checkpoints). */
  grantGetPublicKey(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['kms:GetPublicKey'],
      resourceArns: [this.key.keyArn],
    });
  }

  /**
   * Sets SIGNING_KEY_ID (key ARN) and SIGNING_ALGORITHM on the function and grants what it needs:
   * `'sign'` (the ingest path) = Sign + GetPublicKey; `'publicKey'` (readers of keys) = GetPublicKey only.
   */
  bindTo(fn: IBindableFunction, access: 'sign' | 'publicKey' = 'sign'): iam.Grant {
    fn.addEnvironment(ENV.signingKey, this.key.keyArn);
    fn.addEnvironment(ENV.signingAlgorithm, this.algorithm);
    const publicKey = this.grantGetPublicKey(fn);
    return access === 'sign' ? this.grantSign(fn).combine(publicKey) : publicKey;
  }
}
