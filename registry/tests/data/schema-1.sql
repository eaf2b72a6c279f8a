-- A registry file as pult-registry wrote it with schema version 1 (before
-- the registry server), for the migration test. {NOW} is replaced by the test.
BEGIN;
CREATE TABLE organisation (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    ca_certificate TEXT NOT NULL,
    ca_key TEXT NOT NULL,
    authorized_group INTEGER REFERENCES user_group(id),
    created TEXT NOT NULL
);
CREATE TABLE room (
    id INTEGER PRIMARY KEY,
    organisation INTEGER NOT NULL REFERENCES organisation(id),
    name TEXT NOT NULL,
    UNIQUE (organisation, name)
);
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
    steerable INTEGER NOT NULL DEFAULT 1,
    UNIQUE (organisation, name)
);
CREATE TABLE user_group (
    id INTEGER PRIMARY KEY,
    organisation INTEGER NOT NULL REFERENCES organisation(id),
    name TEXT NOT NULL,
    UNIQUE (organisation, name)
);
CREATE TABLE user (
    id INTEGER PRIMARY KEY,
    organisation INTEGER NOT NULL REFERENCES organisation(id),
    name TEXT NOT NULL,
    UNIQUE (organisation, name)
);
CREATE TABLE membership (
    user INTEGER NOT NULL REFERENCES user(id) ON DELETE CASCADE,
    user_group INTEGER NOT NULL REFERENCES user_group(id) ON DELETE CASCADE,
    PRIMARY KEY (user, user_group)
);
CREATE TABLE issuance_log (
    id INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    organisation INTEGER NOT NULL REFERENCES organisation(id),
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    room TEXT,
    not_after TEXT NOT NULL
);
INSERT INTO organisation (id, name, ca_certificate, ca_key, authorized_group, created)
    VALUES (1, 'Schule', 'not a certificate', 'not a key', NULL, '{NOW}');
INSERT INTO user_group (id, organisation, name) VALUES (1, 1, 'lehrer');
UPDATE organisation SET authorized_group = 1;
INSERT INTO user (id, organisation, name) VALUES (1, 1, 'mueller');
INSERT INTO membership (user, user_group) VALUES (1, 1);
INSERT INTO room (id, organisation, name) VALUES (1, 1, '101');
INSERT INTO device (organisation, uuid, name, room, macs, addresses, tags, steerable)
    VALUES (1, '6f1c1d4e-8a0b-4c55-9d1e-2b3a4c5d6e7f', 'PC-01', 1, '', '', '', 1);
INSERT INTO issuance_log (time, organisation, kind, subject, room, not_after)
    VALUES ('{NOW}', 1, 'room-certificate', 'mueller', '101', '{NOW}');
PRAGMA user_version = 1;
COMMIT;
