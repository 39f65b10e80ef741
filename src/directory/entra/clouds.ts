// Where to sign in and what to ask for, built from the configured hosts. MSAL is given the
// authority's metadata inline (knownAuthorities, cloudDiscoveryMetadata, authorityMetadata), so it
// makes no discovery GET at all: the same code path for the public cloud, the national clouds, a
// private endpoint and the test simulator, and no extra round trip (or extra failure) per process.
import type { EntraSourceConfig } from '../../config/types.js';

type Hosts = Pick<EntraSourceConfig, 'authorityHost' | 'tenantId'>;

/** `https://login.microsoftonline.com/<tenant>`. */
export function authorityUrl(c: Hosts): string {
  return `${c.authorityHost}/${c.tenantId}`;
}

export function tokenEndpoint(c: Hosts): string {
  return `${authorityUrl(c)}/oauth2/v2.0/token`;
}

/** Host and port as MSAL compares authorities (`localhost:8443` needs its port to match). */
export function authorityHostName(c: Pick<EntraSourceConfig, 'authorityHost'>): string {
  return new URL(c.authorityHost).host;
}

/** The openid-configuration MSAL would otherwise fetch; `issuer` must carry the authority's origin. */
export function authorityMetadata(c: Hosts): string {
  const base = authorityUrl(c);
  return JSON.stringify({
    token_endpoint: `${base}/oauth2/v2.0/token`,
    authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
    end_session_endpoint: `${base}/oauth2/v2.0/logout`,
    jwks_uri: `${base}/discovery/v2.0/keys`,
    issuer: `${base}/v2.0`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
  });
}

/** Instance discovery's answer for this one host: it is its own alias, preferred for network and cache. */
export function cloudDiscoveryMetadata(c: Hosts): string {
  const host = authorityHostName(c);
  return JSON.stringify({
    tenant_discovery_endpoint: `${authorityUrl(c)}/v2.0/.well-known/openid-configuration`,
    'api-version': '1.1',
    metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
  });
}

/** Client credentials ask for the resource's `.default` scope: every application permission granted. */
export function graphScope(c: Pick<EntraSourceConfig, 'graphBaseUrl'>): string {
  return `${c.graphBaseUrl}/.default`;
}
