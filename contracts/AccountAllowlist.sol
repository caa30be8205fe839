// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title AccountAllowlist: which accounts may send transactions on a jsc-node chain, and which of
/// them may create contracts.
///
/// A system contract present from genesis at 0x000000000000000000000000000000004A534341 ("JSCA"),
/// switched on by the genesis policy `config.jsc.accountsAllowlist` (absent: the chain is open).
/// When it is on, every node refuses, at its pool, at gossip intake, when it builds a block AND
/// when it validates or imports one, a transaction whose sender is not allowed in the state of the
/// block's parent (jsc_node/governance/accounts.py `transaction_problem`, called from
/// jsc_node/state/evm/executor.py). A block holding such a transaction is invalid on every node,
/// whoever proposed it: the list is chain state, so every node and `jsc-node verify` replaying
/// from genesis reach the same answer.
///
/// Roles, one word per account (so the per-transaction check is one storage read):
///   TRANSACT (1)  may send transactions
///   CREATE   (2)  may create contracts (a transaction without `to`) while `createRestricted`
///   ADMIN    (4)  may change this list; an admin may always send any transaction, contract
///                 creations included, so the list cannot lock its own admins out
/// `createRestricted` (genesis-set, changed by an admin) makes contract creation need CREATE; while
/// it is false every allowed account may create contracts. Contracts created by a contract (the
/// CREATE/CREATE2 opcodes) are not restricted: only the transaction's own sender is checked.
/// The last admin cannot be removed (LastAdmin): the list always has someone who can change it.
/// One admin's transaction is enough for any change (no voting among admins).
///
/// Storage layout (fixed: Python reads it directly, jsc_node/governance/accounts.py):
///   slot 0  mapping(address => uint256) roles        keccak256(pad32(addr) . pad32(0)); bits above
///   slot 1  bool createRestricted                     contract creation needs CREATE (or ADMIN)
///   slot 2  address[] accounts                        holders of TRANSACT, in the order added
///                                                     (removal moves the last into the gap)
///   slot 3  mapping(address => uint256) accountPosition   1-based index into accounts; 0 = absent
///   slot 4  address[] admins                          holders of ADMIN, same rules
///   slot 5  mapping(address => uint256) adminPosition
contract AccountAllowlist {
    uint256 public constant TRANSACT = 1;
    uint256 public constant CREATE = 2;
    uint256 public constant ADMIN = 4;

    mapping(address => uint256) private roles;
    bool public createRestricted;
    address[] private accounts;
    mapping(address => uint256) private accountPosition;
    address[] private admins;
    mapping(address => uint256) private adminPosition;

    event AccountAdded(address indexed account, address indexed by);
    event AccountRemoved(address indexed account, address indexed by);
    event CreatePermissionChanged(address indexed account, bool allowed, address indexed by);
    event AdminAdded(address indexed admin, address indexed by);
    event AdminRemoved(address indexed admin, address indexed by);
    event CreateRestrictionChanged(bool restricted, address indexed by);

    error NotAdmin(address caller);
    error EmptyList();
    error ZeroAddress();
    error AlreadyAllowed(address account);
    error NotListed(address account);
    error AlreadyAdmin(address account);
    error NotAnAdmin(address account);
    error LastAdmin(address admin);

    modifier onlyAdmin() {
        if (roles[msg.sender] & ADMIN == 0) {
            revert NotAdmin(msg.sender);
        }
        _;
    }

    // --- the list's accounts ----------------------------------------------------------------

    /// Gives each account TRANSACT. Reverts, changing nothing, on an empty list, the zero address
    /// or an account already listed (a duplicate within the list included).
    function addAccounts(address[] calldata list) external onlyAdmin {
        if (list.length == 0) {
            revert EmptyList();
        }
        for (uint256 i = 0; i < list.length; i++) {
            address account = list[i];
            if (account == address(0)) {
                revert ZeroAddress();
            }
            if (accountPosition[account] != 0) {
                revert AlreadyAllowed(account);
            }
            accounts.push(account);
            accountPosition[account] = accounts.length;
            roles[account] |= TRANSACT;
            emit AccountAdded(account, msg.sender);
        }
    }

    /// Takes TRANSACT and CREATE from each account (an admin keeps ADMIN, and with it the right to
    /// transact). Reverts, changing nothing, on an empty list or an account not listed.
    function removeAccounts(address[] calldata list) external onlyAdmin {
        if (list.length == 0) {
            revert EmptyList();
        }
        for (uint256 i = 0; i < list.length; i++) {
            address account = list[i];
            uint256 position = accountPosition[account];
            if (position == 0) {
                revert NotListed(account);
            }
            address last = accounts[accounts.length - 1];
            accounts[position - 1] = last;
            accountPosition[last] = position;
            accounts.pop();
            delete accountPosition[account];
            roles[account] &= ~(TRANSACT | CREATE);
            emit AccountRemoved(account, msg.sender);
        }
    }

    /// Gives (or takes) CREATE to listed accounts; it matters only while `createRestricted`.
    function setCreatePermission(address[] calldata list, bool allowed) external onlyAdmin {
        if (list.length == 0) {
            revert EmptyList();
        }
        for (uint256 i = 0; i < list.length; i++) {
            address account = list[i];
            if (accountPosition[account] == 0) {
                revert NotListed(account);
            }
            if (allowed) {
                roles[account] |= CREATE;
            } else {
                roles[account] &= ~CREATE;
            }
            emit CreatePermissionChanged(account, allowed, msg.sender);
        }
    }

    function setCreateRestricted(bool restricted) external onlyAdmin {
        createRestricted = restricted;
        emit CreateRestrictionChanged(restricted, msg.sender);
    }

    // --- admins -----------------------------------------------------------------------------

    function addAdmin(address account) external onlyAdmin {
        if (account == address(0)) {
            revert ZeroAddress();
        }
        if (adminPosition[account] != 0) {
            revert AlreadyAdmin(account);
        }
        admins.push(account);
        adminPosition[account] = admins.length;
        roles[account] |= ADMIN;
        emit AdminAdded(account, msg.sender);
    }

    /// Any admin may remove any admin, itself included, but not the last one.
    function removeAdmin(address account) external onlyAdmin {
        uint256 position = adminPosition[account];
        if (position == 0) {
            revert NotAnAdmin(account);
        }
        if (admins.length == 1) {
            revert LastAdmin(account);
        }
        address last = admins[admins.length - 1];
        admins[position - 1] = last;
        adminPosition[last] = position;
        admins.pop();
        delete adminPosition[account];
        roles[account] &= ~ADMIN;
        emit AdminRemoved(account, msg.sender);
    }

    // --- views (what the node reads from storage, as calls) ---------------------------------

    /// May `account` send a transaction? (TRANSACT or ADMIN.)
    function isAllowed(address account) external view returns (bool) {
        return roles[account] & (TRANSACT | ADMIN) != 0;
    }

    /// May `account` send a contract-creation transaction?
    function canCreate(address account) external view returns (bool) {
        uint256 r = roles[account];
        if (r & ADMIN != 0) {
            return true;
        }
        if (r & TRANSACT == 0) {
            return false;
        }
        return !createRestricted || r & CREATE != 0;
    }

    function isAdmin(address account) external view returns (bool) {
        return roles[account] & ADMIN != 0;
    }

    function rolesOf(address account) external view returns (uint256) {
        return roles[account];
    }

    function getAccounts() external view returns (address[] memory) {
        return accounts;
    }

    function getAdmins() external view returns (address[] memory) {
        return admins;
    }
}
