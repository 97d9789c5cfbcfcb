@tatra
Feature: Tatra-banka-style webhooks
  An application enables webhooks in its settings with an endpoint URL and an optional
  security header. The bank POSTs a transactionEvent when transactions arrive on its own
  accounts of a consent and, after the application starts a refresh, one accountEvent per
  other bank, each carrying the refresh's taskId; the security header comes back as
  Authorization (webhook-dialects.md section 2).

  Background:
    Given TPP A starts clean
    And TPP A's receiver accepts every push

  @TB-01 @tatra-settings-api
  Scenario: A webhook endpoint with parameters is refused
    When TPP A sets its webhook endpoint to its receiver with a query parameter
    Then the Tatra answer refuses the settings under TB-01

  @TB-02 @tatra-settings-api
  Scenario: A security header outside the pattern is refused, one inside it is accepted
    When TPP A sets its webhook security header to "Token abc-def_1"
    Then the Tatra answer refuses the settings under TB-02
    When TPP A sets its webhook security header to "Basic dXNlcjpwYXNzd29yZA=="
    Then the Tatra answer accepts the settings under TB-02

  @TB-06 @TB-03 @TB-11 @tatra-active @tatra-consent @trigger
  Scenario: A transaction on the bank's own accounts arrives as one transactionEvent with NEW
    Given TPP A's webhooks are active at its receiver with security header "Basic dXNlcjpwYXNzd29yZA=="
    And TPP A has a consent with accounts at several banks
    When a transaction arrives on TPP A's consent
    Then TPP A's receiver gets a first attempt
    And every webhook to TPP A is a transactionEvent with NEW and the consent's own-bank accounts
    And every webhook to TPP A carries the configured security header as Authorization

  @TB-03 @tatra-active @tatra-consent @trigger
  Scenario: With no security header configured no Authorization header is sent
    Given TPP A's webhooks are active at its receiver with no security header
    And TPP A has a consent with accounts at several banks
    When a transaction arrives on TPP A's consent
    Then TPP A's receiver gets a first attempt
    And every webhook to TPP A carries the configured security header as Authorization

  @TB-07 @TB-08 @TB-09 @TB-03 @tatra-active @tatra-consent @tatra-refresh
  Scenario: A refresh answers a taskId and one accountEvent per other bank follows with it
    Given TPP A's webhooks are active at its receiver with security header "Basic dXNlcjpwYXNzd29yZA=="
    And TPP A has a consent with accounts at several banks
    When TPP A refreshes its consent
    Then the refresh answers a taskId
    And TPP A's receiver gets one accountEvent per other bank of the consent, each with that taskId
    And no further accountEvent arrives for TPP A within the quiet period
    And every webhook to TPP A carries the configured security header as Authorization

  @TB-05 @tatra-active @tatra-reactivate @tatra-consent @trigger
  Scenario: Nothing is sent while webhooks are disabled
    Given TPP A's webhooks are active at its receiver with security header "Basic dXNlcjpwYXNzd29yZA=="
    And TPP A has a consent with accounts at several banks
    When TPP A disables its webhooks
    And a transaction arrives on TPP A's consent
    Then TPP A's receiver gets no webhook within the quiet period under TB-05

  @TB-04 @tatra-next-hour @tatra-consent @trigger
  Scenario: Nothing is sent before the full hour after enabling
    Given TPP A has a consent with accounts at several banks
    And TPP A's webhooks are disabled
    When TPP A enables its webhooks at its receiver, not yet active
    And a transaction arrives on TPP A's consent
    Then TPP A's receiver gets no webhook before the activation hour

  @TB-10 @tatra-active @tatra-consent @trigger
  Scenario: One application's webhooks never reach another application's endpoint
    Given TPP B starts clean
    And TPP B's receiver accepts every push
    And TPP A's webhooks are active at its receiver with security header "Basic dXNlcjpwYXNzd29yZA=="
    And TPP B's webhooks are active at its receiver with security header "Basic b3RoZXI6dHBw"
    And TPP A has a consent with accounts at several banks
    When a transaction arrives on TPP A's consent
    Then TPP A's receiver gets one push and no retry
    And TPP B's receiver gets no webhook within the quiet period under TB-10

  @TB-11 @push-retry-policy @tatra-active @tatra-consent @trigger
  Scenario: A webhook not answered 2xx is retried with the same body on the declared back-off
    Given TPP A's receiver answers 503 to the first two attempts, then 202
    And TPP A's webhooks are active at its receiver with security header "Basic dXNlcjpwYXNzd29yZA=="
    And TPP A has a consent with accounts at several banks
    When a transaction arrives on TPP A's consent
    Then TPP A's receiver gets attempts until its 202, spaced as declared, then no more
    And every attempt to TPP A carries the same body

  @TB-12 @tatra-consent @tatra-refresh
  Scenario: A refresh of another application's consent, or of an unknown one, is refused
    Given TPP A has a consent with accounts at several banks
    When TPP B refreshes TPP A's consent
    Then the Tatra answer refuses the refresh under TB-12
    When TPP A refreshes an unknown consent
    Then the Tatra answer refuses the refresh under TB-12
