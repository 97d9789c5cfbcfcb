@trigger @polling-api @sets
Feature: Security Event Tokens
  Every SET is a compact JWS signed with the bank's key (PS256, kid in its JWKS, OB crit
  headers) whose claims follow OBEventNotification2 (obie-rules.md sections 5-6, RFC 8417).
  Every SET the harness sees anywhere is verified; these scenarios look at one rule each.

  Background:
    Given TPP A starts clean
    And TPP A is subscribed for polling
    And 1 event happened for TPP A
    When TPP A polls

  @N-01 @J-01 @R8417-16
  Scenario: A SET is a signed compact JWS, never alg none
    Then every received SET is a compact JWS that is not alg none

  @J-02
  Scenario: SETs are signed with the algorithm the profile names (PS256 for OBIE)
    Then every received SET uses the profile's signing algorithm

  @J-03 @J-06 @jwks
  Scenario: The kid of every SET resolves to a key in the bank's JWKS and the signature verifies
    Then every received SET verifies with the key its kid names in the bank's JWKS

  @J-05 @J-04 @J-06
  Scenario: The JOSE header carries the OB members and a crit naming exactly them
    Then every received SET has the OB JOSE header members

  @N-02 @R8417-06 @R8417-07 @R8417-13
  Scenario: The claims follow OBEventNotification2
    Then every received SET has the claims of OBEventNotification2
    And every received SET was issued by the bank's issuer
    And no received SET has an iat in the future

  @N-02 @R8417-09
  Scenario: The SET is addressed to the TPP that receives it
    Then every received SET has the receiving TPP as its audience

  @R8417-01 @R8417-02 @R8417-03 @N-03
  Scenario: events is an object keyed by event-type URIs with object values
    Then every received SET has an events object keyed by URIs with object values

  @AP-13 @R8936-16
  Scenario: Each member of sets is keyed by the jti inside that SET
    Then every received SET is keyed by its own jti

  @N-04 @N-05 @resource-update
  Scenario: A resource-update names its resource in the subject
    Given TPP A starts clean
    And TPP A is subscribed for polling
    And 1 resource-update event happened for TPP A
    When TPP A polls
    Then the SET of each expected event carries that event type
    And the SET of each expected event names its resource in the subject

  @N-04 @N-06 @consent-authorization-revoked
  Scenario: A consent-authorization-revoked carries a subject
    Given TPP A starts clean
    And TPP A is subscribed for polling
    And 1 consent-authorization-revoked event happened for TPP A
    When TPP A polls
    Then the SET of each expected event carries that event type
    And the SET of each expected event names its resource in the subject

  @N-04 @N-07 @account-access-consent-linked-account-update
  Scenario: A linked-account-update is about an account-access-consent
    Given TPP A starts clean
    And TPP A is subscribed for polling
    And 1 account-access-consent-linked-account-update event happened for TPP A
    When TPP A polls
    Then the SET of each expected event carries that event type
    And the SET of each expected event names its resource in the subject
    And the subject of each expected event has resource type "account-access-consent"

  @R8417-08
  Scenario: jti values are unique across SETs
    Given 2 more events happened for TPP A
    When TPP A polls
    Then the received SETs have distinct jti values
