-- A registry file of schema version 3 (the registry server, before the
-- log's hash chain and deleted users): a school, two devices (one
-- privately owned), a user with a password, a token, the directory's
-- settings and their log. Written by pult-registry and turned back to
-- schema 3 by removing what schema 4 added (it only adds), for the test
-- that a backup of the version before restores and is brought up to date.
-- Tables come in name order, rows with them: no foreign keys while loading.
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE device (
    id INTEGER PRIMARY KEY,
    organisation INTEGER NOT NULL REFERENCES organisation(id),
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    room INTEGER NOT NULL REFERENCES room(id),
    position TEXT,
    inventory TEXT,
    macs TEXT NOT NULL DEFAULT '',
    addresses TEXT NOT NULL DEFAULT '',
    description TEXT,
    tags TEXT NOT NULL DEFAULT '',
    owner TEXT,
    steerable INTEGER NOT NULL DEFAULT 1, teacher INTEGER NOT NULL DEFAULT 0, fingerprint TEXT,
    UNIQUE (organisation, name)
);
INSERT INTO "device" VALUES(1,1,'6c63e1c8-85f7-41d4-802d-06012e7e1e61','PC-01',1,'Fenster',NULL,'','',NULL,'',NULL,1,0,NULL);
INSERT INTO "device" VALUES(2,1,'693c0276-dacc-4aad-871c-665149c1289f','LAPTOP-9',1,NULL,NULL,'','',NULL,'','mueller',1,0,NULL);
CREATE TABLE enrolment_token (
    id INTEGER PRIMARY KEY,
    organisation INTEGER NOT NULL REFERENCES organisation(id),
    secret_hash TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    room INTEGER REFERENCES room(id) ON DELETE CASCADE,
    teacher INTEGER NOT NULL,
    uses_left INTEGER NOT NULL,
    expires TEXT NOT NULL,
    created TEXT NOT NULL,
    created_by TEXT NOT NULL
);
INSERT INTO "enrolment_token" VALUES(1,1,'3e5dd132565e0e97c7deaf1e95eca39a03c9f0eb79265f24d9154a68e1a9a0fa','',1,0,1,'2026-12-08T23:26:01Z','2026-12-07T23:26:01Z','cli');
CREATE TABLE event_log (
    id INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT,
    source TEXT,
    subject TEXT,
    room TEXT,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL
);
INSERT INTO "event_log" VALUES(1,'2026-12-07T23:26:01Z','change',NULL,'cli','d.csv',NULL,'ok','imported 2 devices (columns name, room, position, owner): 2 new, 0 updated, 1 new rooms');
INSERT INTO "event_log" VALUES(2,'2026-12-07T23:26:01Z','change',NULL,'cli','lehrer',NULL,'ok','made the one group authorised to use Pult (R9)');
INSERT INTO "event_log" VALUES(3,'2026-12-07T23:26:01Z','change',NULL,'cli','mueller',NULL,'ok','added to lehrer');
INSERT INTO "event_log" VALUES(4,'2026-12-07T23:26:01Z','change',NULL,'cli','mueller',NULL,'ok','set the local password; ended 0 sessions');
INSERT INTO "event_log" VALUES(5,'2026-12-07T23:26:01Z','change',NULL,'cli','token 1','101','ok','made an enrolment token for 1 devices, valid until 2026-12-08T23:26:01Z');
INSERT INTO "event_log" VALUES(6,'2026-12-07T23:26:01Z','change',NULL,'cli','ldap',NULL,'ok','set the ldap sign-in: directory ldap://127.0.0.1:389 under dc=x');
CREATE TABLE membership (
    user INTEGER NOT NULL REFERENCES user(id) ON DELETE CASCADE,
    user_group INTEGER NOT NULL REFERENCES user_group(id) ON DELETE CASCADE,
    PRIMARY KEY (user, user_group)
);
INSERT INTO "membership" VALUES(1,1);
CREATE TABLE organisation (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    ca_certificate TEXT NOT NULL,
    ca_key TEXT NOT NULL,
    authorized_group INTEGER REFERENCES user_group(id),
    created TEXT NOT NULL
, admin_group INTEGER REFERENCES user_group(id));
INSERT INTO "organisation" VALUES(1,'Realschule Süd','-----BEGIN CERTIFICATE-----
MIIBvTCCAWOgAwIBAgIQWi41NoYJQkaGNy77fmgHJjAKBggqhkjOPQQDAjA8MSAw
HgYDVQQDDBdQdWx0IENBIFJlYWxzY2h1bGUgU8O8ZDEYMBYGA1UECgwPUmVhbHNj
aHVsZSBTw7xkMCAXDTI2MTIwNzIzMjEwMVoYDzIwNTYxMTI5MjMyNjAxWjA8MSAw
HgYDVQQDDBdQdWx0IENBIFJlYWxzY2h1bGUgU8O8ZDEYMBYGA1UECgwPUmVhbHNj
aHVsZSBTw7xkMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEN/nJqYXu/Mm82FPn
MlYerFPImuMTjFIQVgy/laiiuLPEJpRIKinr+DIC11hgkTWsKp204WvtrB81vMjE
41s606NFMEMwDgYDVR0PAQH/BAQDAgGGMB0GA1UdDgQWBBTXH1lISRu8NpMjd+uq
qPaoSAo/czASBgNVHRMBAf8ECDAGAQH/AgEAMAoGCCqGSM49BAMCA0gAMEUCIQCc
zhkTFZX215rDJ4yrVDnnHKPon0SbSHWB+TTOqh523wIgb2yfsNZMYRmcEbJkdRP+
4Nb+vtS38G9Sw/2QzE+FKGs=
-----END CERTIFICATE-----
','-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgbFBE17IoRTSkqvCh
hV22uYBioHyCrfww3DNABlZ/bK6hRANCAAQ3+cmphe78ybzYU+cyVh6sU8ia4xOM
UhBWDL+VqKK4s8QmlEgqKev4MgLXWGCRNawqnbTha+2sHzW8yMTjWzrT
-----END PRIVATE KEY-----
',1,'2026-12-07T23:26:01Z',NULL);
CREATE TABLE room (
    id INTEGER PRIMARY KEY,
    organisation INTEGER NOT NULL REFERENCES organisation(id),
    name TEXT NOT NULL,
    UNIQUE (organisation, name)
);
INSERT INTO "room" VALUES(1,1,'101');
CREATE TABLE session (
    secret_hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    user TEXT NOT NULL,
    groups TEXT NOT NULL,
    method TEXT NOT NULL,
    device TEXT,
    csrf TEXT,
    created TEXT NOT NULL,
    expires TEXT NOT NULL
);
CREATE TABLE sign_in_method (
    organisation INTEGER NOT NULL REFERENCES organisation(id),
    kind TEXT NOT NULL,
    settings TEXT NOT NULL,
    PRIMARY KEY (organisation, kind)
);
INSERT INTO "sign_in_method" VALUES(1,'ldap','{"url":"ldap://127.0.0.1:389","starttls":false,"ca_pem":null,"base_dn":"dc=x","bind_dn":"cn=pult","bind_password":"pult-secret","user_filter":"(&(objectClass=person)(|(uid={user})(sAMAccountName={user})))","group_base_dn":null,"group_filter":"(|(member={dn})(uniqueMember={dn})(memberUid={user}))"}');
CREATE TABLE teacher_room (
    device INTEGER NOT NULL REFERENCES device(id) ON DELETE CASCADE,
    room INTEGER NOT NULL REFERENCES room(id) ON DELETE CASCADE,
    PRIMARY KEY (device, room)
);
CREATE TABLE user (
    id INTEGER PRIMARY KEY,
    organisation INTEGER NOT NULL REFERENCES organisation(id),
    name TEXT NOT NULL, password TEXT,
    UNIQUE (organisation, name)
);
INSERT INTO "user" VALUES(1,1,'mueller','$argon2id$v=19$m=19456,t=2,p=1$FWNwmy+48WOl9bdcBzQQFg$QmHoOBJbzeQZQJLRSf5Nkqgh/XHcu1/r39Sq0xPlNjE');
CREATE TABLE user_group (
    id INTEGER PRIMARY KEY,
    organisation INTEGER NOT NULL REFERENCES organisation(id),
    name TEXT NOT NULL,
    UNIQUE (organisation, name)
);
INSERT INTO "user_group" VALUES(1,1,'lehrer');
CREATE UNIQUE INDEX device_fingerprint ON device (fingerprint);
CREATE INDEX event_log_time ON event_log (time);
COMMIT;
PRAGMA user_version=3;
