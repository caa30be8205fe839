// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// The one ERC-20 call the policy makes.
interface IERC20Transfer {
    function transfer(address to, uint256 value) external returns (bool);
}

/// @title AgentPolicy: spending limits for an AI agent, run as the owner's own account (EIP-7702).
/// @notice The owner's EOA delegates to this contract with an EIP-7702 authorization; from then
///         on this code runs AS the owner's account: `address(this)` is the owner, the balance
///         spent is the owner's, and the storage below lives in the owner's account.
///
///         The owner (a transaction the EOA sends to itself: `msg.sender == address(this)`) sets
///         one policy: an agent address, a per-day amount of ether, a per-day amount of one ERC-20
///         token, an allowlist of target contracts and an expiry time. The agent
///         (`msg.sender == agent`) may then, until the expiry:
///           - `pay`: send ether to anyone, within the day's ether allowance;
///           - `payToken`: transfer the policy's token to anyone, within the day's token allowance;
///           - `callTarget`: call an allowlisted contract, its value counted in the ether allowance.
///         A day is `block.timestamp / 1 days` (UTC days); each day starts with the full allowance.
///         Every spend emits an event; every refusal reverts with an Error(string) reason that
///         any client prints as it is ("daily ether limit exceeded", ...).
///
///         Revocation: `revoke()` clears the agent at once, so from the block after the owner's
///         revoke transaction (and for any later transaction of the same block) the agent is
///         refused. A 7702 re-delegation to address(0) removes the code altogether.
///
///         Initialization: there is no initializer a stranger could call first. Every setter
///         demands `msg.sender == address(this)`, which only the account's own key can produce;
///         an account that delegated but set no policy has no agent, and every agent call is
///         refused ("no agent: policy not set or revoked"). The contract deployed at its own
///         address is inert for the same reason (nobody can be msg.sender == the contract).
///
///         Storage: one struct at an ERC-7201 namespaced slot, so it cannot collide with storage
///         that another delegate (before or after this one) left in the account. The re-entrancy
///         lock is a transient-storage slot (EIP-1153), also namespaced. Every spend follows
///         checks-effects-interactions: the allowance is used up before the external call.
contract AgentPolicy {
    /// @custom:storage-location erc7201:jsc.storage.AgentPolicy
    struct PolicyStorage {
        address agent; // zero: no policy, or revoked
        uint64 expiry; // unix time; the agent is refused from this second on
        address token; // the one ERC-20 of payToken (zero: none)
        uint256 etherPerDay; // wei
        uint256 tokenPerDay; // token base units
        uint256 day; // the day the two counters below belong to (block.timestamp / 1 days)
        uint256 etherSpent; // wei spent on `day` by pay and callTarget
        uint256 tokenSpent; // token units spent on `day` by payToken
        address[] targets; // the allowlist, as a list (to clear it on the next setPolicy)
        mapping(address => bool) allowed; // the allowlist, for the check
    }

    // keccak256(abi.encode(uint256(keccak256("jsc.storage.AgentPolicy")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant STORAGE_SLOT = 0xd982e192db04ca85b969d6bff9aac4c2721c2141da986ed4ce8bf23d89d1d700;
    // keccak256(abi.encode(uint256(keccak256("jsc.transient.AgentPolicy.lock")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant LOCK_SLOT = 0x2d5a2b130678b2a080b378c46291fcb453371843e0edc0e661d325eccca55b00;

    event PolicySet(
        address indexed agent,
        address indexed token,
        uint256 etherPerDay,
        uint256 tokenPerDay,
        uint64 expiry,
        address[] targets
    );
    event AgentRevoked(address indexed agent);
    event EtherPaid(address indexed agent, address indexed to, uint256 amount, uint256 spentToday);
    event TokenPaid(
        address indexed agent,
        address indexed token,
        address indexed to,
        uint256 amount,
        uint256 spentToday
    );
    event TargetCalled(
        address indexed agent,
        address indexed target,
        uint256 value,
        bytes4 selector,
        uint256 spentToday
    );

    modifier onlyOwner() {
        require(msg.sender == address(this), "only the owner (the account itself) may do this");
        _;
    }

    /// The agent, before its expiry. Checked before the lock so that the reason is the first one.
    modifier onlyAgent() {
        PolicyStorage storage $ = _policy();
        address agent = $.agent;
        require(agent != address(0), "no agent: policy not set or revoked");
        require(msg.sender == agent, "caller is not the agent");
        require(block.timestamp < $.expiry, "policy expired");
        _;
    }

    modifier nonReentrant() {
        bytes32 slot = LOCK_SLOT;
        uint256 locked;
        assembly {
            locked := tload(slot)
        }
        require(locked == 0, "re-entrant call");
        assembly {
            tstore(slot, 1)
        }
        _;
        assembly {
            tstore(slot, 0)
        }
    }

    /// Plain ether sent to the owner's account is accepted, as it was before the delegation.
    receive() external payable {}

    // ---------------------------------------------------------------- owner

    /// Sets (or replaces) the whole policy. For the same agent the day's spending so far still
    /// counts against the new limits, so setting a policy again never hands it a fresh allowance;
    /// a new agent (or one set again after a revocation) starts the day's counters afresh, and a
    /// change of token starts the token counter afresh, since it counted another token.
    function setPolicy(
        address agent,
        uint256 etherPerDay,
        address token,
        uint256 tokenPerDay,
        address[] calldata targets,
        uint64 expiry
    ) external onlyOwner {
        require(agent != address(0), "agent is the zero address");
        require(agent != address(this), "agent is the owner");
        require(expiry > block.timestamp, "expiry is not in the future");
        require(token != address(this), "token is the owner");
        require(tokenPerDay == 0 || token != address(0), "token limit without a token");

        PolicyStorage storage $ = _policy();
        for (uint256 i = 0; i < $.targets.length; i++) {
            $.allowed[$.targets[i]] = false;
        }
        delete $.targets;
        for (uint256 i = 0; i < targets.length; i++) {
            address target = targets[i];
            require(target != address(0), "target is the zero address");
            // Calls to the account itself would reach the owner's own functions; calls to the
            // token would move it around the token limit. Both go through their own functions.
            require(target != address(this), "target is the owner");
            require(target != token, "target is the token: use payToken");
            if (!$.allowed[target]) {
                $.allowed[target] = true;
                $.targets.push(target);
            }
        }
        if (agent != $.agent) {
            $.etherSpent = 0;
            $.tokenSpent = 0;
        } else if (token != $.token) {
            $.tokenSpent = 0;
        }
        $.agent = agent;
        $.expiry = expiry;
        $.token = token;
        $.etherPerDay = etherPerDay;
        $.tokenPerDay = tokenPerDay;
        emit PolicySet(agent, token, etherPerDay, tokenPerDay, expiry, $.targets);
    }

    /// Revokes the agent: every later call of the agent is refused.
    function revoke() external onlyOwner {
        PolicyStorage storage $ = _policy();
        address agent = $.agent;
        require(agent != address(0), "no agent to revoke");
        $.agent = address(0);
        emit AgentRevoked(agent);
    }

    // ---------------------------------------------------------------- agent

    /// Sends `amount` wei of the owner's ether to `to`.
    function pay(address payable to, uint256 amount) external onlyAgent nonReentrant {
        require(to != address(0), "recipient is the zero address");
        require(address(this).balance >= amount, "owner's ether balance too low");
        uint256 spent = _useEther(amount);
        emit EtherPaid(msg.sender, to, amount, spent);
        (bool ok, ) = to.call{value: amount}("");
        require(ok, "ether transfer failed");
    }

    /// Transfers `amount` of the policy's token from the owner's account to `to`.
    function payToken(address to, uint256 amount) external onlyAgent nonReentrant {
        PolicyStorage storage $ = _policy();
        address token = $.token;
        require(token != address(0), "no token in the policy");
        require(to != address(0), "recipient is the zero address");
        uint256 spent = _rollDay($).tokenSpent + amount;
        require(spent <= $.tokenPerDay, "daily token limit exceeded");
        $.tokenSpent = spent;
        emit TokenPaid(msg.sender, token, to, amount, spent);
        // Tokens that return nothing (USDT-style) count as success; `false` or a revert does not.
        (bool ok, bytes memory ret) = token.call(abi.encodeCall(IERC20Transfer.transfer, (to, amount)));
        if (!ok) {
            _bubble(ret, "token transfer failed");
        }
        require(ret.length == 0 || abi.decode(ret, (bool)), "token transfer returned false");
    }

    /// Calls an allowlisted `target` with `value` wei of the owner's ether and `data`; the value
    /// counts against the day's ether allowance. A revert of the target is passed on as it is.
    function callTarget(
        address target,
        uint256 value,
        bytes calldata data
    ) external onlyAgent nonReentrant returns (bytes memory) {
        require(_policy().allowed[target], "target not allowlisted");
        require(address(this).balance >= value, "owner's ether balance too low");
        uint256 spent = _useEther(value);
        bytes4 selector = data.length >= 4 ? bytes4(data[:4]) : bytes4(0);
        emit TargetCalled(msg.sender, target, value, selector, spent);
        (bool ok, bytes memory ret) = target.call{value: value}(data);
        if (!ok) {
            _bubble(ret, "target call failed");
        }
        return ret;
    }

    // ---------------------------------------------------------------- views

    function policy()
        external
        view
        returns (address agent, address token, uint256 etherPerDay, uint256 tokenPerDay, uint64 expiry)
    {
        PolicyStorage storage $ = _policy();
        return ($.agent, $.token, $.etherPerDay, $.tokenPerDay, $.expiry);
    }

    /// What the agent may still spend today (at the current block's time).
    function remainingToday() external view returns (uint256 etherLeft, uint256 tokenLeft) {
        PolicyStorage storage $ = _policy();
        bool sameDay = $.day == block.timestamp / 1 days;
        uint256 etherSpent = sameDay ? $.etherSpent : 0;
        uint256 tokenSpent = sameDay ? $.tokenSpent : 0;
        etherLeft = $.etherPerDay > etherSpent ? $.etherPerDay - etherSpent : 0;
        tokenLeft = $.tokenPerDay > tokenSpent ? $.tokenPerDay - tokenSpent : 0;
    }

    function isAllowedTarget(address target) external view returns (bool) {
        return _policy().allowed[target];
    }

    function allowedTargets() external view returns (address[] memory) {
        return _policy().targets;
    }

    // ---------------------------------------------------------------- internals

    function _policy() private pure returns (PolicyStorage storage $) {
        assembly {
            $.slot := STORAGE_SLOT
        }
    }

    /// Starts the counters afresh when a new day began since the last spend.
    function _rollDay(PolicyStorage storage $) private returns (PolicyStorage storage) {
        uint256 today = block.timestamp / 1 days;
        if ($.day != today) {
            $.day = today;
            $.etherSpent = 0;
            $.tokenSpent = 0;
        }
        return $;
    }

    function _useEther(uint256 amount) private returns (uint256 spent) {
        PolicyStorage storage $ = _rollDay(_policy());
        spent = $.etherSpent + amount;
        require(spent <= $.etherPerDay, "daily ether limit exceeded");
        $.etherSpent = spent;
    }

    /// Re-raises a callee's revert data, or `reason` when the callee gave none.
    function _bubble(bytes memory ret, string memory reason) private pure {
        if (ret.length == 0) {
            revert(reason);
        }
        assembly {
            revert(add(ret, 32), mload(ret))
        }
    }
}
