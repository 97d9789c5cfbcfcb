@polling-api @malformed
Feature: Malformed poll requests
  Every member of OBEventPolling1 has a type; a request that breaks it is a 400 with an OBIE
  error body, never a 200 and never a 5xx (AP-04, RFC 8936 section 2.5.1, rfc-rules.md
  edge cases 5-8).

  Background:
    Given TPP A starts clean
    And TPP A is subscribed for polling

  @AP-04 @R8936-25 @G-12
  Scenario Outline: A poll with <problem> is refused with 400
    When TPP A polls with:
      """
      <body>
      """
    Then the response is an OBIE error with status 400

    Examples:
      | problem                            | body                                                                          |
      | a negative maxEvents               | {"returnImmediately": true, "maxEvents": -1}                                  |
      | a fractional maxEvents             | {"returnImmediately": true, "maxEvents": 2.5}                                 |
      | maxEvents as a string              | {"returnImmediately": true, "maxEvents": "5"}                                 |

  # RFC 8936 names no refusal of these (rfc-rules.md edge cases 6 and 8): OBEventPolling1 does.
  @AP-04 @G-12
  Scenario Outline: A poll with <problem> is refused with 400 by an OBIE bank
    When TPP A polls with:
      """
      <body>
      """
    Then the response is an OBIE error with status 400

    Examples:
      | problem                            | body                                                                          |
      | returnImmediately as a string      | {"returnImmediately": "true"}                                                 |
      | a JSON array as the body           | [{"returnImmediately": true}]                                                 |

  # The shape and lengths of ack and setErrs are OBEventPolling1's (AP-04); RFC 8936 defines
  # them for the recipient (R8936-10, R8936-12) and asks nothing of a transmitter given others.
  @AP-04 @G-12
  Scenario Outline: A poll whose ack is <problem> is refused with 400
    When TPP A polls with:
      """
      <body>
      """
    Then the response is an OBIE error with status 400

    Examples:
      | problem                            | body                                                                          |
      | a string                           | {"returnImmediately": true, "ack": "a-jti"}                                   |
      | an array holding a number          | {"returnImmediately": true, "ack": [42]}                                      |
      | an array holding an empty jti      | {"returnImmediately": true, "ack": [""]}                                      |
      | an array holding a jti over 128 characters | {"returnImmediately": true, "ack": ["jjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjj"]} |

  @AP-04 @G-12
  Scenario Outline: A poll whose setErrs is <problem> is refused with 400
    When TPP A polls with:
      """
      <body>
      """
    Then the response is an OBIE error with status 400

    Examples:
      | problem                            | body                                                                          |
      | an array                           | {"returnImmediately": true, "setErrs": ["a-jti"]}                             |
      | an entry that is not an object     | {"returnImmediately": true, "setErrs": {"a-jti": "invalid_key"}}              |
      | an entry without err               | {"returnImmediately": true, "setErrs": {"a-jti": {"description": "bad"}}}     |
      | an entry whose err is over 40 characters | {"returnImmediately": true, "setErrs": {"a-jti": {"err": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "description": "too long"}}} |
      | an entry whose err is empty        | {"returnImmediately": true, "setErrs": {"a-jti": {"err": "", "description": "empty err"}}} |
      | an entry without description       | {"returnImmediately": true, "setErrs": {"a-jti": {"err": "invalid_key"}}}     |
      | an entry whose description is empty | {"returnImmediately": true, "setErrs": {"a-jti": {"err": "invalid_key", "description": ""}}} |
      | an entry whose description is over 256 characters | {"returnImmediately": true, "setErrs": {"a-jti": {"err": "invalid_key", "description": "ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"}}} |

  @AP-04 @G-13
  Scenario: A bad maxEvents is reported as UK.OBIE.Field.Invalid naming the field
    When TPP A polls with:
      """
      {"returnImmediately": true, "maxEvents": -1}
      """
    Then the response is an OBIE error with status 400 and code "UK.OBIE.Field.Invalid"
    And the error names the field "maxEvents"

  @G-10 @R8936-25 @G-12
  Scenario: A body that is not JSON is refused with 400
    When TPP A sends POST "/events" with the raw body "{not json"
    Then the response is an OBIE error with status 400

  @AP-04 @spec-3.1.11
  Scenario: The poll request object is closed: a misspelt member is refused
    When TPP A polls with:
      """
      {"returnImmediately": true, "acks": ["a-jti"]}
      """
    Then the response is an OBIE error with status 400
