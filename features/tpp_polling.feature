@tpp-polling @tpp-poller
Feature: A TPP's polling client (OBIE aggregated polling, RFC 8936 recipient)
  The harness plays the bank (the referee) for the TPP's polling client: it issues its tokens,
  publishes its JWKS and answers its POST /events with one scripted session. Four SETs come in
  two pages (moreAvailable true, then false), one of them with a signature that does not
  verify; then a SET the client has acknowledged comes again; then a 429 with Retry-After: 1;
  then a 401 invalid_token that revokes the client's token; then one more valid SET; then an
  empty queue. Every request the client makes is recorded, and each scenario judges one duty
  over that record.

  Background:
    Given the TPP's polling client has been through the referee's polling session

  @R8936-21 @R8936-22
  Scenario: Every valid SET is acknowledged in the next poll
    Then every valid SET served is acknowledged in the next successful polls

  @R8936-34 @R8936-10 @R8936-12
  Scenario: Only served jtis are acknowledged or reported
    Then no poll acknowledges or reports a jti the referee did not serve

  @R8935-05 @J-06
  Scenario: A SET whose signature does not verify is never acknowledged
    Then the SET with a bad signature is never acknowledged

  @R8936-12 @R8936-13
  Scenario: A SET whose signature does not verify is reported in setErrs
    Then the SET with a bad signature is reported in setErrs with an err of the declared family

  @R8936-20
  Scenario: A SET served again after it was acknowledged is acknowledged again
    Then the SET served again after its acknowledgement is acknowledged again

  @AP-04 @R8936-01
  Scenario: Every poll body is an OBEventPolling1 (ack, never acks)
    Then every poll is an application/json OBEventPolling1 with no unknown members

  @R8936-33
  Scenario: moreAvailable true is followed at once
    Then every answer with moreAvailable true is followed by a poll at once

  @AP-19
  Scenario: A 429 is followed by a wait of at least its Retry-After
    Then the poll after the 429 comes no sooner than its Retry-After

  @AP-21
  Scenario: A token refused with 401 is replaced, not retried in a loop
    Then after the 401 the client polls with a new token and does not repeat the refused one

  @AP-20
  Scenario: Empty short polls are paced (or the client long-polls)
    Then every empty short poll is followed by the declared wait

  @G-03 @AP-22
  Scenario: Polls carry a client-credentials token with a polling scope
    Then every poll carries a token from the token endpoint with a scope POST /events accepts

  @G-05
  Scenario: The client's x-fapi-interaction-id is a UUID
    Then every x-fapi-interaction-id the client sends is an RFC 4122 UUID
