// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title ValidatorRegistry: who runs each validator of a jsc-node chain, and where.
///
/// A system contract present from genesis at 0x00000000000000000000000000000000004A5343 ("JSC"),
/// named by the genesis policy `config.jsc.registry`. Per validator address it keeps one
/// attestation: legal entity name, Japanese corporate number (法人番号, 13 digits, check digit
/// verified here), jurisdiction (ISO 3166-1 alpha-2, one of those the genesis allows), hosting
/// region (ISO 3166-2; for JP exactly JP-01..JP-47), the SHA-256 of the attestation document, the
/// block it was approved at and the validators who approved it.
///
/// Flow. The candidate submits its own attestation (msg.sender is the attested address); it is
/// Pending. Current validators approve it; when approvals from the current validator set reach
/// quorum = ceil(2n/3) (QBFT's quorum, consensus/validators.py `quorum`; n = current validators)
/// it becomes Valid, and stays Valid until a quorum of the current validators revokes it. A new
/// submission (allowed while Pending or Revoked, not while Valid) starts a new round: approvals of
/// an earlier round never count for a later one.
///
/// How the contract knows the current validators. QBFT's validator set lives in block headers, not
/// in state, so the chain itself writes it here: genesis storage holds the genesis validators, and
/// the node calls `syncValidators(set)` from SYSTEM_ADDRESS at the start of every block, before its
/// transactions, with the validators the block's own extraData lists (the set that seals it,
/// ascending; chainformat.QbftExtraData.validators), as Prague's EIP-2935 / EIP-4788 system calls
/// (an unchanged set costs one SLOAD and writes nothing). Until a node makes that call, the list
/// stays the genesis set.
/// Why not count approvals off-chain at the parent header's set instead: validity would then
/// depend on the set at each read, so an attestation approved by 3 of 4 validators would become
/// invalid when the set grew to 7 (3 < 5), and honest proposers would vote out a validator nobody
/// revoked. Latching the outcome on-chain at the moment quorum is reached makes "is X validly
/// attested at the parent state?" one storage read (the status slot below), answered the same by
/// every node, by eth_call and by `jsc-node verify` replaying from genesis, and makes "approved
/// at" and "approved by" facts of state rather than of a node's computation.
///
/// Storage layout (fixed: Python reads it directly, jsc_node/governance/registry.py):
///   slot 0  address[] validators         current validator set, ascending; elements at keccak256(0)+i
///   slot 1  mapping(address => bool)     isValidator             keccak256(pad32(addr) . pad32(1))
///   slot 2  bytes32 validatorSetHash     keccak256(abi.encode(validators))
///   slot 3  mapping(bytes2 => bool)      jurisdictionAllowed     key = the 2 ASCII bytes left-aligned in 32
///   slot 4  mapping(address => Attestation) attestations         base = keccak256(pad32(addr) . pad32(4))
///   slot 5  address[] subjects           every address that ever submitted (or genesis attested), in order
///   slot 6  mapping(address => mapping(uint256 => mapping(address => bool))) approvals   [subject][round][approver]
///   slot 7  mapping(address => mapping(uint256 => mapping(address => bool))) revocations [subject][round][approver]
/// Attestation, at base + k:
///   +0 status (0 None, 1 Pending, 2 Valid, 3 Revoked)   +1 round (1 for the first submission)
///   +2 string entityName (UTF-8, 1..256 bytes)          +3 corporateNumber (uint, 13 digits)
///   +4 string jurisdiction ("JP")                       +5 string region ("JP-13")
///   +6 bytes32 documentHash (SHA-256)                   +7 submittedAt (block number)
///   +8 approvedAt (block number; 0 for genesis)         +9 address[] approvedBy (empty for genesis)
///   +10 revokedAt (block number)                        +11 address[] revokedBy
/// Strings use Solidity's layout: up to 31 bytes in the slot itself (data left-aligned, lowest
/// byte = 2 * length), longer ones as 2 * length + 1 in the slot and the data from keccak256(slot).
/// The allowed jurisdictions are written at genesis only: no function changes them.
contract ValidatorRegistry {
    enum Status {
        None,
        Pending,
        Valid,
        Revoked
    }

    struct Attestation {
        Status status;
        uint256 round;
        string entityName;
        uint256 corporateNumber;
        string jurisdiction;
        string region;
        bytes32 documentHash;
        uint256 submittedAt;
        uint256 approvedAt;
        address[] approvedBy;
        uint256 revokedAt;
        address[] revokedBy;
    }

    /// The caller of system calls (EIP-4788, EIP-2935).
    address public constant SYSTEM_ADDRESS = 0xffffFFFfFFffffffffffffffFfFFFfffFFFfFFfE;
    uint256 public constant MAX_ENTITY_NAME_BYTES = 256;

    address[] internal _validators;
    mapping(address => bool) public isValidator;
    bytes32 public validatorSetHash;
    mapping(bytes2 => bool) public jurisdictionAllowed;
    mapping(address => Attestation) internal _attestations;
    address[] internal _subjects;
    mapping(address => mapping(uint256 => mapping(address => bool))) internal _approvals;
    mapping(address => mapping(uint256 => mapping(address => bool))) internal _revocations;

    event AttestationSubmitted(
        address indexed validator,
        uint256 indexed round,
        string entityName,
        uint256 corporateNumber,
        string jurisdiction,
        string region,
        bytes32 documentHash
    );
    event AttestationApproved(
        address indexed validator, uint256 indexed round, address indexed approver, uint256 approvals, uint256 quorum
    );
    event AttestationValid(address indexed validator, uint256 indexed round, address[] approvedBy);
    event RevocationVoted(
        address indexed validator, uint256 indexed round, address indexed approver, uint256 votes, uint256 quorum
    );
    event AttestationRevoked(address indexed validator, uint256 indexed round, address[] revokedBy);
    event ValidatorsSynced(bytes32 indexed setHash, address[] validators);

    error NotSystem(address caller);
    error ValidatorsNotAscending(uint256 index);
    error EmptyValidatorSet();
    error SelfApproval(address validator);
    error NotValidator(address caller);
    error EntityNameLength(uint256 got, uint256 max);
    error CorporateNumberLength(uint256 got);
    error CorporateNumberNotDigit(uint256 position);
    error CorporateNumberCheckDigit(uint256 got, uint256 expected);
    error JurisdictionMalformed(string got);
    error JurisdictionNotAllowed(string got);
    error RegionMalformed(string got);
    error RegionNotInJurisdiction(string region, string jurisdiction);
    error DocumentHashZero();
    error AttestationActive(address validator);
    error NotPending(address validator, Status status);
    error NotValid(address validator, Status status);
    error AlreadyVoted(address validator, address approver);

    modifier onlyValidator() {
        if (!isValidator[msg.sender]) revert NotValidator(msg.sender);
        _;
    }

    // --- the chain -------------------------------------------------------------------------

    /// Called by the node from SYSTEM_ADDRESS before a block's transactions with the validators
    /// that seal the block, ascending and distinct. Nothing is written when the set is unchanged.
    function syncValidators(address[] calldata set) external {
        if (msg.sender != SYSTEM_ADDRESS) revert NotSystem(msg.sender);
        if (set.length == 0) revert EmptyValidatorSet();
        bytes32 h = keccak256(abi.encode(set));
        if (h == validatorSetHash) return;
        for (uint256 i = 0; i < _validators.length; i++) {
            isValidator[_validators[i]] = false;
        }
        for (uint256 i = 0; i < set.length; i++) {
            if (i > 0 && set[i] <= set[i - 1]) revert ValidatorsNotAscending(i);
            isValidator[set[i]] = true;
        }
        _validators = set;
        validatorSetHash = h;
        emit ValidatorsSynced(h, set);
    }

    // --- candidates ------------------------------------------------------------------------

    /// The caller's own attestation. Every field is checked; it is Pending until a quorum approves.
    function submit(
        string calldata entityName,
        string calldata corporateNumber,
        string calldata jurisdiction,
        string calldata region,
        bytes32 documentHash
    ) external {
        uint256 nameLength = bytes(entityName).length;
        if (nameLength == 0 || nameLength > MAX_ENTITY_NAME_BYTES) {
            revert EntityNameLength(nameLength, MAX_ENTITY_NAME_BYTES);
        }
        uint256 number = checkCorporateNumber(corporateNumber);
        checkJurisdiction(jurisdiction);
        checkRegion(region, jurisdiction);
        if (documentHash == bytes32(0)) revert DocumentHashZero();

        Attestation storage a = _attestations[msg.sender];
        if (a.status == Status.Valid) revert AttestationActive(msg.sender);
        if (a.status == Status.None) _subjects.push(msg.sender);
        a.status = Status.Pending;
        a.round += 1;
        a.entityName = entityName;
        a.corporateNumber = number;
        a.jurisdiction = jurisdiction;
        a.region = region;
        a.documentHash = documentHash;
        a.submittedAt = block.number;
        a.approvedAt = 0;
        delete a.approvedBy;
        a.revokedAt = 0;
        delete a.revokedBy;
        emit AttestationSubmitted(
            msg.sender, a.round, entityName, number, jurisdiction, region, documentHash
        );
    }

    // --- validators ------------------------------------------------------------------------

    /// A validator's approval of another address's pending attestation (not its own: a revoked
    /// validator still in the set cannot count itself back in).
    function approve(address validator) external onlyValidator {
        if (validator == msg.sender) revert SelfApproval(validator);
        Attestation storage a = _attestations[validator];
        if (a.status != Status.Pending) revert NotPending(validator, a.status);
        mapping(address => bool) storage votes = _approvals[validator][a.round];
        if (votes[msg.sender]) revert AlreadyVoted(validator, msg.sender);
        votes[msg.sender] = true;
        (uint256 count, ) = _count(votes);
        emit AttestationApproved(validator, a.round, msg.sender, count, quorum());
        _settleApproval(validator, a);
    }

    function revoke(address validator) external onlyValidator {
        Attestation storage a = _attestations[validator];
        if (a.status != Status.Valid) revert NotValid(validator, a.status);
        mapping(address => bool) storage votes = _revocations[validator][a.round];
        if (votes[msg.sender]) revert AlreadyVoted(validator, msg.sender);
        votes[msg.sender] = true;
        (uint256 count, ) = _count(votes);
        emit RevocationVoted(validator, a.round, msg.sender, count, quorum());
        _settleRevocation(validator, a);
    }

    /// Anyone: count again after the validator set changed (a smaller set can make votes already
    /// cast a quorum). Changes nothing when there is no quorum.
    function tally(address validator) external {
        Attestation storage a = _attestations[validator];
        if (a.status == Status.Pending) _settleApproval(validator, a);
        else if (a.status == Status.Valid) _settleRevocation(validator, a);
    }

    function _settleApproval(address validator, Attestation storage a) internal {
        (uint256 count, address[] memory by) = _count(_approvals[validator][a.round]);
        if (count == 0 || count < quorum()) return;
        a.status = Status.Valid;
        a.approvedAt = block.number;
        a.approvedBy = by;
        emit AttestationValid(validator, a.round, by);
    }

    function _settleRevocation(address validator, Attestation storage a) internal {
        (uint256 count, address[] memory by) = _count(_revocations[validator][a.round]);
        if (count == 0 || count < quorum()) return;
        a.status = Status.Revoked;
        a.revokedAt = block.number;
        a.revokedBy = by;
        emit AttestationRevoked(validator, a.round, by);
    }

    /// Votes cast by members of the current set, and who they are (ascending).
    function _count(mapping(address => bool) storage votes) internal view returns (uint256, address[] memory) {
        uint256 n = _validators.length;
        address[] memory by = new address[](n);
        uint256 count = 0;
        for (uint256 i = 0; i < n; i++) {
            if (votes[_validators[i]]) {
                by[count] = _validators[i];
                count++;
            }
        }
        assembly {
            mstore(by, count)
        }
        return (count, by);
    }

    // --- reads -----------------------------------------------------------------------------

    /// ceil(2n/3) of the current set, as QBFT (consensus/validators.py `quorum`).
    function quorum() public view returns (uint256) {
        return (2 * _validators.length + 2) / 3;
    }

    function validators() external view returns (address[] memory) {
        return _validators;
    }

    function subjects() external view returns (address[] memory) {
        return _subjects;
    }

    function getAttestation(address validator) external view returns (Attestation memory) {
        return _attestations[validator];
    }

    /// True when ``validator`` holds a Valid attestation (approved by a quorum, not revoked).
    function isAttested(address validator) external view returns (bool) {
        return _attestations[validator].status == Status.Valid;
    }

    function hasApproved(address validator, address approver) external view returns (bool) {
        return _approvals[validator][_attestations[validator].round][approver];
    }

    function hasRevoked(address validator, address approver) external view returns (bool) {
        return _revocations[validator][_attestations[validator].round][approver];
    }

    // --- field rules (pure; jsc_node/governance/identity.py applies the same) -----------------

    /// 法人番号: 13 ASCII digits; the first is the check digit 9 - (Σ Pn·Qn mod 9) over the 12-digit
    /// base, Pn the n-th base digit from the right, Qn 1 for odd n and 2 for even n
    /// (財務省令第70号 第2条). Returns the number.
    function checkCorporateNumber(string calldata text) public pure returns (uint256) {
        bytes calldata b = bytes(text);
        if (b.length != 13) revert CorporateNumberLength(b.length);
        uint256 number = 0;
        for (uint256 i = 0; i < 13; i++) {
            uint8 c = uint8(b[i]);
            if (c < 0x30 || c > 0x39) revert CorporateNumberNotDigit(i);
            number = number * 10 + (c - 0x30);
        }
        uint256 sum = 0;
        for (uint256 n = 1; n <= 12; n++) {
            uint256 digit = uint8(b[13 - n]) - 0x30;
            sum += digit * (n % 2 == 1 ? 1 : 2);
        }
        uint256 expected = 9 - (sum % 9);
        uint256 got = uint8(b[0]) - 0x30;
        if (got != expected) revert CorporateNumberCheckDigit(got, expected);
        return number;
    }

    /// Two uppercase ASCII letters, allowed by the genesis policy.
    function checkJurisdiction(string calldata text) public view {
        bytes calldata b = bytes(text);
        if (b.length != 2 || !_upper(b[0]) || !_upper(b[1])) revert JurisdictionMalformed(text);
        if (!jurisdictionAllowed[bytes2(b[0]) | (bytes2(b[1]) >> 8)]) revert JurisdictionNotAllowed(text);
    }

    /// ISO 3166-2: the jurisdiction, "-", 1 to 3 uppercase letters or digits; for JP exactly two
    /// digits 01..47 (the JIS X 0401 prefecture codes).
    function checkRegion(string calldata text, string calldata jurisdiction) public pure {
        bytes calldata b = bytes(text);
        bytes calldata j = bytes(jurisdiction);
        if (b.length < 4 || b.length > 6 || b[2] != "-" || !_upper(b[0]) || !_upper(b[1])) {
            revert RegionMalformed(text);
        }
        for (uint256 i = 3; i < b.length; i++) {
            if (!_upper(b[i]) && !_digit(b[i])) revert RegionMalformed(text);
        }
        if (j.length != 2 || b[0] != j[0] || b[1] != j[1]) revert RegionNotInJurisdiction(text, jurisdiction);
        if (b[0] == "J" && b[1] == "P") {
            if (b.length != 5 || !_digit(b[3]) || !_digit(b[4])) revert RegionMalformed(text);
            uint256 code = (uint8(b[3]) - 0x30) * 10 + (uint8(b[4]) - 0x30);
            if (code < 1 || code > 47) revert RegionMalformed(text);
        }
    }

    function _upper(bytes1 c) private pure returns (bool) {
        return c >= "A" && c <= "Z";
    }

    function _digit(bytes1 c) private pure returns (bool) {
        return c >= "0" && c <= "9";
    }
}
