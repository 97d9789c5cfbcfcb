-- Migration 3: the registered token endpoint authentication method, enforced for the
-- certificate methods of RFC 8705, and the subject DN a `tls_client_auth` client registered.
ALTER TABLE clients ADD COLUMN auth_method TEXT NOT NULL DEFAULT 'client_secret_basic';
ALTER TABLE clients ADD COLUMN tls_subject_dn TEXT;
