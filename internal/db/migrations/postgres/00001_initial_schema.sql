-- The complete schema of Cerberus IAM. Times are UTC with millisecond
-- precision; JSON objects and string arrays are jsonb. Tables of a tenant
-- reference organisations and go with it when a purge removes the row.
-- audit_logs keeps no foreign keys so rows outlive users and clients.

-- +goose Up
CREATE TABLE organisations (
    id uuid PRIMARY KEY,
    slug TEXT NOT NULL,
    name TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    website TEXT,
    owner_id uuid,
    allowed_callback_urls jsonb NOT NULL DEFAULT '[]',
    allowed_logout_urls jsonb NOT NULL DEFAULT '[]',
    allowed_origins jsonb NOT NULL DEFAULT '[]',
    session_lifetime INTEGER NOT NULL DEFAULT 3600,
    session_idle_timeout INTEGER NOT NULL DEFAULT 1800,
    require_mfa BOOLEAN NOT NULL DEFAULT FALSE,
    allowed_mfa_methods jsonb NOT NULL DEFAULT '["totp"]',
    password_policy jsonb,
    token_lifetime_policy jsonb,
    branding jsonb,
    metadata jsonb,
    rbac_version BIGINT NOT NULL DEFAULT 1,
    created_at timestamptz(3) NOT NULL,
    updated_at timestamptz(3) NOT NULL,
    deleted_at timestamptz(3)
);
CREATE UNIQUE INDEX organisations_slug_key ON organisations (slug);

CREATE TABLE users (
    id uuid PRIMARY KEY,
    organisation_id uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    name TEXT NOT NULL,
    phone TEXT,
    email_verified_at timestamptz(3),
    password_hash TEXT,
    mfa_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    totp_secret TEXT,
    totp_pending_secret TEXT,
    totp_last_step BIGINT,
    blocked_at timestamptz(3),
    blocked_reason TEXT,
    locked_at timestamptz(3),
    failed_login_count INTEGER NOT NULL DEFAULT 0,
    last_login_at timestamptz(3),
    last_login_ip TEXT,
    login_count INTEGER NOT NULL DEFAULT 0,
    password_reset_required BOOLEAN NOT NULL DEFAULT FALSE,
    created_at timestamptz(3) NOT NULL,
    updated_at timestamptz(3) NOT NULL,
    deleted_at timestamptz(3)
);
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE INDEX users_organisation_id_idx ON users (organisation_id) WHERE deleted_at IS NULL;

CREATE TABLE password_history (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    created_at timestamptz(3) NOT NULL
);
CREATE INDEX password_history_user_id_idx ON password_history (user_id, created_at);

CREATE TABLE mfa_backup_codes (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at timestamptz(3),
    created_at timestamptz(3) NOT NULL
);
CREATE INDEX mfa_backup_codes_user_id_idx ON mfa_backup_codes (user_id);

CREATE TABLE permissions (
    id uuid PRIMARY KEY,
    slug TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    category TEXT NOT NULL,
    created_at timestamptz(3) NOT NULL,
    updated_at timestamptz(3) NOT NULL
);
CREATE UNIQUE INDEX permissions_slug_key ON permissions (slug);

CREATE TABLE roles (
    id uuid PRIMARY KEY,
    organisation_id uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    description TEXT,
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    is_system BOOLEAN NOT NULL DEFAULT FALSE,
    created_at timestamptz(3) NOT NULL,
    updated_at timestamptz(3) NOT NULL
);
CREATE UNIQUE INDEX roles_organisation_id_slug_key ON roles (organisation_id, slug);

CREATE TABLE teams (
    id uuid PRIMARY KEY,
    organisation_id uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    description TEXT,
    created_at timestamptz(3) NOT NULL,
    updated_at timestamptz(3) NOT NULL
);
CREATE UNIQUE INDEX teams_organisation_id_slug_key ON teams (organisation_id, slug);

CREATE TABLE role_permissions (
    id uuid PRIMARY KEY,
    role_id uuid NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    permission_id uuid NOT NULL REFERENCES permissions (id) ON DELETE CASCADE,
    created_at timestamptz(3) NOT NULL
);
CREATE UNIQUE INDEX role_permissions_role_id_permission_id_key
    ON role_permissions (role_id, permission_id);

CREATE TABLE user_roles (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id uuid NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    created_at timestamptz(3) NOT NULL
);
CREATE UNIQUE INDEX user_roles_user_id_role_id_key ON user_roles (user_id, role_id);
CREATE INDEX user_roles_role_id_idx ON user_roles (role_id);

CREATE TABLE team_members (
    id uuid PRIMARY KEY,
    team_id uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz(3) NOT NULL
);
CREATE UNIQUE INDEX team_members_team_id_user_id_key ON team_members (team_id, user_id);
CREATE INDEX team_members_user_id_idx ON team_members (user_id);

CREATE TABLE sessions (
    id uuid PRIMARY KEY,
    session_token TEXT NOT NULL,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organisation_id uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    restricted BOOLEAN NOT NULL DEFAULT FALSE,
    amr jsonb NOT NULL DEFAULT '["pwd"]',
    authenticated_at timestamptz(3) NOT NULL,
    ip_address TEXT,
    user_agent TEXT,
    idle_timeout INTEGER NOT NULL,
    last_activity_at timestamptz(3) NOT NULL,
    expires_at timestamptz(3) NOT NULL,
    created_at timestamptz(3) NOT NULL,
    updated_at timestamptz(3) NOT NULL
);
CREATE UNIQUE INDEX sessions_session_token_key ON sessions (session_token);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE account_tokens (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    expires_at timestamptz(3) NOT NULL,
    consumed_at timestamptz(3),
    created_at timestamptz(3) NOT NULL
);
CREATE UNIQUE INDEX account_tokens_token_hash_key ON account_tokens (token_hash);
CREATE INDEX account_tokens_user_id_purpose_idx ON account_tokens (user_id, purpose);

CREATE TABLE invitations (
    id uuid PRIMARY KEY,
    organisation_id uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    role_id uuid,
    team_ids jsonb NOT NULL DEFAULT '[]',
    token_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    invited_by_id uuid,
    expires_in_days INTEGER NOT NULL DEFAULT 7,
    expires_at timestamptz(3) NOT NULL,
    accepted_at timestamptz(3),
    accepted_by_id uuid,
    cancelled_at timestamptz(3),
    created_at timestamptz(3) NOT NULL,
    updated_at timestamptz(3) NOT NULL
);
CREATE UNIQUE INDEX invitations_token_hash_key ON invitations (token_hash);
CREATE INDEX invitations_organisation_id_email_idx ON invitations (organisation_id, email);

CREATE TABLE scopes (
    id uuid PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    is_system BOOLEAN NOT NULL DEFAULT FALSE,
    created_at timestamptz(3) NOT NULL,
    updated_at timestamptz(3) NOT NULL
);
CREATE UNIQUE INDEX scopes_name_key ON scopes (name);

CREATE TABLE clients (
    id uuid PRIMARY KEY,
    organisation_id uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    secret_hash TEXT,
    name TEXT NOT NULL,
    description TEXT,
    client_type TEXT NOT NULL,
    grant_types jsonb NOT NULL DEFAULT '[]',
    redirect_uris jsonb NOT NULL DEFAULT '[]',
    post_logout_redirect_uris jsonb NOT NULL DEFAULT '[]',
    allowed_origins jsonb NOT NULL DEFAULT '[]',
    allowed_resources jsonb NOT NULL DEFAULT '[]',
    scopes jsonb NOT NULL DEFAULT '["openid"]',
    token_endpoint_auth_method TEXT NOT NULL,
    jwks jsonb,
    jwks_uri TEXT,
    require_pkce BOOLEAN NOT NULL DEFAULT TRUE,
    is_first_party BOOLEAN NOT NULL DEFAULT FALSE,
    require_consent BOOLEAN NOT NULL DEFAULT TRUE,
    introspect BOOLEAN NOT NULL DEFAULT FALSE,
    id_token_signed_response_alg TEXT NOT NULL DEFAULT 'RS256',
    access_token_lifetime INTEGER,
    id_token_lifetime INTEGER,
    refresh_token_lifetime INTEGER,
    logo_uri TEXT,
    policy_uri TEXT,
    tos_uri TEXT,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    revoked_at timestamptz(3),
    created_by_id uuid,
    created_at timestamptz(3) NOT NULL,
    updated_at timestamptz(3) NOT NULL,
    deleted_at timestamptz(3)
);
CREATE UNIQUE INDEX clients_client_id_key ON clients (client_id);
CREATE INDEX clients_organisation_id_idx ON clients (organisation_id) WHERE deleted_at IS NULL;

CREATE TABLE authorization_requests (
    id uuid PRIMARY KEY,
    client_id uuid NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    organisation_id uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    parameters jsonb NOT NULL,
    user_id uuid REFERENCES users (id) ON DELETE CASCADE,
    session_id uuid,
    auth_time timestamptz(3),
    amr jsonb,
    done BOOLEAN NOT NULL DEFAULT FALSE,
    expires_at timestamptz(3) NOT NULL,
    created_at timestamptz(3) NOT NULL,
    updated_at timestamptz(3) NOT NULL
);
CREATE INDEX authorization_requests_expires_at_idx ON authorization_requests (expires_at);

CREATE TABLE authorization_codes (
    id uuid PRIMARY KEY,
    code_hash TEXT NOT NULL,
    client_id uuid NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organisation_id uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    session_id uuid,
    authorization_request_id uuid,
    redirect_uri TEXT NOT NULL,
    scopes jsonb NOT NULL DEFAULT '[]',
    nonce TEXT,
    code_challenge TEXT,
    resources jsonb NOT NULL DEFAULT '[]',
    auth_time timestamptz(3) NOT NULL,
    amr jsonb NOT NULL DEFAULT '["pwd"]',
    expires_at timestamptz(3) NOT NULL,
    consumed_at timestamptz(3),
    created_at timestamptz(3) NOT NULL
);
CREATE UNIQUE INDEX authorization_codes_code_hash_key ON authorization_codes (code_hash);
CREATE INDEX authorization_codes_expires_at_idx ON authorization_codes (expires_at);

CREATE TABLE device_codes (
    id uuid PRIMARY KEY,
    device_code_hash TEXT NOT NULL,
    user_code TEXT NOT NULL,
    client_id uuid NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    organisation_id uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    scopes jsonb NOT NULL DEFAULT '[]',
    resources jsonb NOT NULL DEFAULT '[]',
    status TEXT NOT NULL,
    user_id uuid REFERENCES users (id) ON DELETE CASCADE,
    session_id uuid,
    auth_time timestamptz(3),
    amr jsonb,
    poll_interval INTEGER NOT NULL DEFAULT 5,
    last_polled_at timestamptz(3),
    expires_at timestamptz(3) NOT NULL,
    consumed_at timestamptz(3),
    created_at timestamptz(3) NOT NULL,
    updated_at timestamptz(3) NOT NULL
);
CREATE UNIQUE INDEX device_codes_device_code_hash_key ON device_codes (device_code_hash);
CREATE UNIQUE INDEX device_codes_user_code_key ON device_codes (user_code);
CREATE INDEX device_codes_expires_at_idx ON device_codes (expires_at);

CREATE TABLE tokens (
    id uuid PRIMARY KEY,
    jti uuid NOT NULL,
    client_id uuid NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id uuid REFERENCES users (id) ON DELETE CASCADE,
    organisation_id uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    scopes jsonb NOT NULL DEFAULT '[]',
    audience jsonb NOT NULL DEFAULT '[]',
    authorization_code_id uuid,
    family_id uuid,
    session_id uuid,
    issued_at timestamptz(3) NOT NULL,
    expires_at timestamptz(3) NOT NULL,
    revoked_at timestamptz(3),
    ip_address TEXT,
    user_agent TEXT,
    created_at timestamptz(3) NOT NULL
);
CREATE UNIQUE INDEX tokens_jti_key ON tokens (jti);
CREATE INDEX tokens_user_id_idx ON tokens (user_id);
CREATE INDEX tokens_family_id_idx ON tokens (family_id);
CREATE INDEX tokens_expires_at_idx ON tokens (expires_at);
CREATE INDEX tokens_client_id_idx ON tokens (client_id);
CREATE INDEX tokens_authorization_code_id_idx ON tokens (authorization_code_id);

CREATE TABLE refresh_tokens (
    id uuid PRIMARY KEY,
    token_hash TEXT NOT NULL,
    family_id uuid NOT NULL,
    parent_id uuid,
    client_id uuid NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organisation_id uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    scopes jsonb NOT NULL DEFAULT '[]',
    audience jsonb NOT NULL DEFAULT '[]',
    authorization_code_id uuid,
    session_id uuid,
    auth_time timestamptz(3) NOT NULL,
    amr jsonb NOT NULL DEFAULT '["pwd"]',
    expires_at timestamptz(3) NOT NULL,
    rotated_at timestamptz(3),
    revoked_at timestamptz(3),
    created_at timestamptz(3) NOT NULL
);
CREATE UNIQUE INDEX refresh_tokens_token_hash_key ON refresh_tokens (token_hash);
CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_id_idx ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires_at_idx ON refresh_tokens (expires_at);

CREATE TABLE consents (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id uuid NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    organisation_id uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    scopes jsonb NOT NULL DEFAULT '[]',
    granted_at timestamptz(3) NOT NULL,
    expires_at timestamptz(3),
    revoked_at timestamptz(3),
    created_at timestamptz(3) NOT NULL,
    updated_at timestamptz(3) NOT NULL
);
CREATE UNIQUE INDEX consents_user_id_client_id_key ON consents (user_id, client_id);

CREATE TABLE jwks (
    id uuid PRIMARY KEY,
    kid TEXT NOT NULL,
    alg TEXT NOT NULL,
    public_key TEXT NOT NULL,
    private_key TEXT,
    status TEXT NOT NULL,
    retired_at timestamptz(3),
    created_at timestamptz(3) NOT NULL,
    updated_at timestamptz(3) NOT NULL
);
CREATE UNIQUE INDEX jwks_kid_key ON jwks (kid);

CREATE TABLE client_assertions (
    id uuid PRIMARY KEY,
    jti TEXT NOT NULL,
    client_id uuid NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    expires_at timestamptz(3) NOT NULL,
    created_at timestamptz(3) NOT NULL
);
CREATE UNIQUE INDEX client_assertions_client_id_jti_key ON client_assertions (client_id, jti);
CREATE INDEX client_assertions_expires_at_idx ON client_assertions (expires_at);

CREATE TABLE api_keys (
    id uuid PRIMARY KEY,
    organisation_id uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    created_by_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    scopes jsonb NOT NULL DEFAULT '[]',
    last_used_at timestamptz(3),
    expires_at timestamptz(3),
    revoked_at timestamptz(3),
    created_at timestamptz(3) NOT NULL,
    updated_at timestamptz(3) NOT NULL
);
CREATE UNIQUE INDEX api_keys_prefix_key ON api_keys (prefix);
CREATE INDEX api_keys_organisation_id_idx ON api_keys (organisation_id);

CREATE TABLE webhook_endpoints (
    id uuid PRIMARY KEY,
    organisation_id uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    events jsonb NOT NULL DEFAULT '[]',
    client_id uuid REFERENCES clients (id) ON DELETE SET NULL,
    secret TEXT NOT NULL,
    previous_secret TEXT,
    previous_secret_expires_at timestamptz(3),
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    failure_count INTEGER NOT NULL DEFAULT 0,
    last_delivery_at timestamptz(3),
    disabled_at timestamptz(3),
    created_at timestamptz(3) NOT NULL,
    updated_at timestamptz(3) NOT NULL
);
CREATE INDEX webhook_endpoints_organisation_id_idx ON webhook_endpoints (organisation_id);

CREATE TABLE webhook_deliveries (
    id uuid PRIMARY KEY,
    endpoint_id uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    organisation_id uuid NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    event_id uuid NOT NULL,
    event_type TEXT NOT NULL,
    payload jsonb NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_attempt_at timestamptz(3),
    next_attempt_at timestamptz(3),
    locked_until timestamptz(3),
    response_status INTEGER,
    response_time_ms INTEGER,
    response_body TEXT,
    error TEXT,
    created_at timestamptz(3) NOT NULL,
    updated_at timestamptz(3) NOT NULL,
    completed_at timestamptz(3)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint_id_idx ON webhook_deliveries (endpoint_id, created_at);

CREATE TABLE email_outbox (
    id uuid PRIMARY KEY,
    organisation_id uuid REFERENCES organisations (id) ON DELETE CASCADE,
    recipient TEXT NOT NULL,
    template TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at timestamptz(3),
    locked_until timestamptz(3),
    last_error TEXT,
    sent_at timestamptz(3),
    created_at timestamptz(3) NOT NULL,
    updated_at timestamptz(3) NOT NULL
);
CREATE INDEX email_outbox_due_idx ON email_outbox (status, next_attempt_at);

CREATE TABLE audit_logs (
    id uuid PRIMARY KEY,
    organisation_id uuid,
    actor_type TEXT NOT NULL,
    actor_id TEXT,
    user_id uuid,
    client_id uuid,
    event_type TEXT NOT NULL,
    event_category TEXT NOT NULL,
    action TEXT NOT NULL,
    resource_type TEXT,
    resource_id TEXT,
    success BOOLEAN NOT NULL,
    error_message TEXT,
    ip_address TEXT,
    user_agent TEXT,
    request_id TEXT,
    metadata jsonb,
    created_at timestamptz(3) NOT NULL
);
CREATE INDEX audit_logs_org_created_idx ON audit_logs (organisation_id, created_at, id);
CREATE INDEX audit_logs_org_event_type_idx ON audit_logs (organisation_id, event_type, created_at);
CREATE INDEX audit_logs_user_id_idx ON audit_logs (user_id);
CREATE INDEX audit_logs_created_at_idx ON audit_logs (created_at);

-- +goose Down
DROP TABLE audit_logs;
DROP TABLE email_outbox;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
DROP TABLE api_keys;
DROP TABLE client_assertions;
DROP TABLE jwks;
DROP TABLE consents;
DROP TABLE refresh_tokens;
DROP TABLE tokens;
DROP TABLE device_codes;
DROP TABLE authorization_codes;
DROP TABLE authorization_requests;
DROP TABLE clients;
DROP TABLE scopes;
DROP TABLE invitations;
DROP TABLE account_tokens;
DROP TABLE sessions;
DROP TABLE team_members;
DROP TABLE user_roles;
DROP TABLE role_permissions;
DROP TABLE teams;
DROP TABLE roles;
DROP TABLE permissions;
DROP TABLE mfa_backup_codes;
DROP TABLE password_history;
DROP TABLE users;
DROP TABLE organisations;
